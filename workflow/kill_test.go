package workflow_test

const childEnv = "SHIFTGATE_WORKFLOW_CHILD"

func childWorker() int { return 2 }
