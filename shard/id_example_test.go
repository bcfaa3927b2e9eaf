package shard_test

import (
	"fmt"

	"github.com/shiftgate/shiftgate/shard"
)

// Each shard's writer makes ids with its shard number as the node; any id
// then tells which shard made it, and when.
func ExampleDecodeID() {
	gen, err := shard.NewIDGenerator(17) // the writer of shard 17
	if err != nil {
		panic(err)
	}
	id, err := gen.Next()
	if err != nil {
		panic(err)
	}
	p, err := shard.DecodeID(id)
	if err != nil {
		panic(err)
	}
	fmt.Println("shard", p.Node)

	// An id read back from a table, made on shard 5 on 2025-06-01.
	p, _ = shard.DecodeID(716803198156820480)
	fmt.Println("shard", p.Node, "at", p.Time.Format("2006-01-02 15:04:05.000"), "sequence", p.Seq)
	// Output:
	// shard 17
	// shard 5 at 2025-06-01 00:00:00.000 sequence 0
}
