package keyset_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiftgate/shiftgate/internal/keyset"
	"github.com/shiftgate/shiftgate/internal/schema"
)

func TestEncodeValuesRoundTrip(t *testing.T) {
	for _, v := range []keyset.Values{
		nil,
		{int64(-5)},
		{uint64(18446744073709551615), "Ärger ", []byte{0, 0xff, '\n'}},
		{[]byte{}, ""},
	} {
		s, err := keyset.EncodeValues(v)
		require.NoError(t, err)
		got, err := keyset.DecodeValues(s)
		require.NoError(t, err)
		assert.Equal(t, v, got, "via %s", s)
	}
	_, err := keyset.EncodeValues(keyset.Values{3.5})
	assert.ErrorContains(t, err, "float64")
	_, err = keyset.DecodeValues(`[{}]`)
	assert.ErrorContains(t, err, "no type")
}

func TestKindsAndChunkQuery(t *testing.T) {
	def := &schema.TableDef{Database: "d", Name: "t",
		Columns: []schema.Column{{Name: "a", DataType: "bigint", Unsigned: true}, {Name: "b", DataType: "varchar"}, {Name: "c", DataType: "varbinary"}, {Name: "n", DataType: "int"}},
		Indexes: []schema.Index{{Name: "PRIMARY", Primary: true, Unique: true, Type: "BTREE",
			Columns: []schema.IndexColumn{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "n"}}}}}
	k, err := keyset.ForTable(def)
	require.NoError(t, err)
	assert.Equal(t, []keyset.Kind{keyset.KindUnsigned, keyset.KindString, keyset.KindBytes, keyset.KindSigned}, k.Kinds())
	v, err := k.Normalize(keyset.Values{[]byte("18446744073709551615"), []byte("x"), "y", int64(-3)})
	require.NoError(t, err)
	assert.Equal(t, keyset.Values{uint64(18446744073709551615), "x", []byte("y"), int64(-3)}, v)
	_, err = k.Value(0, nil)
	assert.ErrorContains(t, err, "NULL")
	_, err = k.Value(3, []byte("1.5"))
	assert.Error(t, err)

	q, args := k.ChunkQuery("d", "t", "*", keyset.Range{Lower: v}, 10)
	assert.Equal(t, "SELECT * FROM `d`.`t` FORCE INDEX (`PRIMARY`) WHERE ((`a` > ?) OR (`a` = ? AND `b` > ?) OR (`a` = ? AND `b` = ? AND `c` > ?) OR (`a` = ? AND `b` = ? AND `c` = ? AND `n` > ?)) ORDER BY `a`, `b`, `c`, `n` LIMIT 10", q)
	assert.Len(t, args, 10)
	q, _ = keyset.NewKey("id").ChunkQuery("d", "t", "`id`", keyset.Range{}, 0)
	assert.Equal(t, "SELECT `id` FROM `d`.`t` WHERE 1=1 ORDER BY `id`", q)
}
