package cliflag

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSideDSN(t *testing.T) {
	t.Setenv("SHIFTGATE_SOURCE_PASSWORD", "from-env")
	var stderr bytes.Buffer

	dsn, err := SideDSN("tool", "source", "app@tcp(db:3306)/", true, &stderr)
	require.NoError(t, err)
	assert.Equal(t, "app:from-env@tcp(db:3306)/", dsn, "the password comes from the environment")
	assert.Empty(t, stderr.String())

	dsn, err = SideDSN("tool", "source", "app:typed@tcp(db:3306)/", true, &stderr)
	require.NoError(t, err)
	assert.Equal(t, "app:typed@tcp(db:3306)/", dsn)
	assert.Contains(t, stderr.String(), "tool: warning: the -source DSN holds a password")
	assert.Contains(t, stderr.String(), "SHIFTGATE_SOURCE_PASSWORD")
	assert.NotContains(t, stderr.String(), "typed")

	stderr.Reset()
	_, err = SideDSN("tool", "source", "app:typed@tcp(db:3306)/", false, &stderr)
	require.NoError(t, err)
	assert.Empty(t, stderr.String(), "no warning for a DSN from the environment")

	_, err = SideDSN("tool", "target", "", false, &stderr)
	assert.EqualError(t, err, "-target is required (or set SHIFTGATE_TARGET_DSN)")
	_, err = SideDSN("tool", "target", "app:s3cret@tcp(db:3306", false, &stderr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "-target: invalid DSN")
	assert.NotContains(t, err.Error(), "s3cret")
}

func TestList(t *testing.T) {
	assert.Equal(t, []string{"a", "b c", "d"}, List(" a, b c ,,d,"))
	assert.Nil(t, List(""))
}
