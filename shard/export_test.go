package shard

// SandboxServers gives the external tests (package shard_test) the servers
// that this package's TestMain starts: a test binary has one TestMain.
var SandboxServers = &servers
