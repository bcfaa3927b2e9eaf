package notify

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/shiftgate/shiftgate/workflow"
)

func TestUserTextCannotMention(t *testing.T) {
	e := workflow.Event{Kind: workflow.EventRejected, TicketID: 9, Title: "ping <@all>",
		Comment: "see <@bob> and <at id=all></at> and <AT user_id=\"x\">", Detail: "a < b, <b>bold</b>"}
	for _, got := range []string{markdown(e, "## ")} {
		for _, bad := range []string{"<@all>", "<@bob>", "<at id=all>", "<AT user_id"} {
			assert.NotContains(t, got, bad)
		}
		assert.Contains(t, got, "a < b, <b>bold</b>", "other text is left as written")
		assert.Contains(t, got, "<\u200b@bob>", "the text stays readable")
	}
	assert.Equal(t, "no markup", noMentions("no markup"))
	assert.Equal(t, "<\u200bat>", noMentions("<at>"))
	assert.False(t, strings.Contains(noMentions("<@"), "<@"))
}
