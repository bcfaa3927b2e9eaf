package binlog

import "github.com/go-mysql-org/go-mysql/replication"

// DecodeRows is the stream's rows-event decoder, for the benchmark that
// measures it against go-mysql's full decoding.
func (s *Stream) DecodeRows(e *replication.RowsEvent, data []byte) error {
	return s.decodeRows(e, data)
}
