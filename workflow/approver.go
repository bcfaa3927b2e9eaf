package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/shiftgate/shiftgate/review"
)

// Verdict is an approver's answer.
type Verdict int

// The verdicts.
const (
	// Wait: a person decides, through Engine.Approve or Engine.Reject.
	Wait Verdict = iota
	Approve
	Reject
)

func (v Verdict) String() string {
	switch v {
	case Approve:
		return "approve"
	case Reject:
		return "reject"
	}
	return "wait"
}

// Decision is a verdict with its reason, which goes into the audit trail.
type Decision struct {
	Verdict Verdict
	Reason  string
}

// Case is what an approver decides on: the ticket (with its review) and
// the instances it touches.
type Case struct {
	Ticket *Ticket
	Target Instance
	// Source is set for tickets that read from another instance.
	Source *Instance
}

// Approver decides one step of a ticket's approval chain.
//
// Contract: Decide is called when the ticket reaches the step (and once
// more, by the engine that takes the ticket over, if the process that
// called it died before its answer was recorded) and returns Approve or
// Reject to decide it at once (automatic approval), or Wait to leave it to
// a person, which is recorded (Ticket.Awaiting); it must not change c. Approvers returns
// the people who may decide the step in person; the engine refuses
// anyone else, and never lets the submitter decide their own ticket
// whatever this returns. Both honour ctx, are safe for concurrent use, and
// return errors only for failures (a lookup that failed), never to mean
// "no": an error from Decide leaves the step to a person.
type Approver interface {
	Decide(ctx context.Context, c Case) (Decision, error)
	Approvers(ctx context.Context, c Case) ([]string, error)
}

// Step is one step of an approval chain.
type Step struct {
	Name     string
	Approver Approver
}

// Group lets any of its members decide the step in person.
type Group struct {
	Name    string
	Members []string
}

var _ Approver = (*Group)(nil)

// Decide implements Approver: it always waits for a member.
func (g *Group) Decide(context.Context, Case) (Decision, error) {
	return Decision{Verdict: Wait, Reason: "waiting for a member of " + g.Name}, nil
}

// Approvers implements Approver.
func (g *Group) Approvers(context.Context, Case) ([]string, error) {
	return slices.Clone(g.Members), nil
}

// AutoApprover approves a step automatically when the review result, the
// risk, the estimated affected rows and the target's tags allow it, and
// otherwise hands the step to Else (a person), or rejects it when Else is
// nil. For example, "pass DML under 1,000 rows outside prod":
//
//	&workflow.AutoApprover{Kinds: []review.Kind{review.KindDML}, MaxRisk: review.RiskModerate,
//		MaxAffectedRows: 1000, Unless: map[string]string{"env": "prod"}, Else: dbas}
type AutoApprover struct {
	// Kinds lists the statement kinds it may pass (default: DML only).
	Kinds []review.Kind
	// MaxRisk is the highest statement risk it passes.
	MaxRisk review.Risk
	// MaxAffectedRows bounds the estimated rows all statements change
	// together (exclusive). A statement whose estimate is unknown is never
	// passed. Zero means no DML may pass.
	MaxAffectedRows int64
	// Unless lists tags of the target instance that forbid automatic
	// approval.
	Unless map[string]string
	// Else decides when the rule does not hold.
	Else Approver
}

var _ Approver = (*AutoApprover)(nil)

// Decide implements Approver.
func (a *AutoApprover) Decide(ctx context.Context, c Case) (Decision, error) {
	why := a.refuse(c)
	if why == "" {
		return Decision{Verdict: Approve, Reason: "automatic: " + a.describe(c)}, nil
	}
	if a.Else == nil {
		return Decision{Verdict: Reject, Reason: "not automatically approvable: " + why}, nil
	}
	d, err := a.Else.Decide(ctx, c)
	if d.Reason == "" {
		d.Reason = "needs a person: " + why
	} else {
		d.Reason = "needs a person (" + why + "); " + d.Reason
	}
	return d, err
}

// Approvers implements Approver: Else's.
func (a *AutoApprover) Approvers(ctx context.Context, c Case) ([]string, error) {
	if a.Else == nil {
		return nil, nil
	}
	return a.Else.Approvers(ctx, c)
}

func (a *AutoApprover) describe(c Case) string {
	s := c.Ticket.Review.Summary
	return fmt.Sprintf("%d statement(s), risk %s, about %d row(s), instance %s", s.Statements, s.Risk, affected(c.Ticket.Review), c.Target.Name)
}

func affected(r *review.Result) int64 {
	var n int64
	for _, st := range r.Statements {
		if st.AffectedRows != nil {
			n += *st.AffectedRows
		}
	}
	return n
}

// refuse returns why the rule does not hold, or "".
func (a *AutoApprover) refuse(c Case) string {
	r := c.Ticket.Review
	if r == nil || len(r.Statements) == 0 {
		return "no reviewed SQL"
	}
	if !r.Summary.Pass {
		return "the review did not pass"
	}
	for k, v := range a.Unless {
		if c.Target.Tags[k] == v || (c.Source != nil && c.Source.Tags[k] == v) {
			return fmt.Sprintf("instance tagged %s=%s", k, v)
		}
	}
	kinds := a.Kinds
	if len(kinds) == 0 {
		kinds = []review.Kind{review.KindDML}
	}
	var total int64
	for _, st := range r.Statements {
		if !slices.Contains(kinds, st.Kind) {
			return fmt.Sprintf("statement %d is %s", st.Index+1, st.Kind)
		}
		if st.Risk > a.MaxRisk {
			return fmt.Sprintf("statement %d has risk %s", st.Index+1, st.Risk)
		}
		if st.Kind == review.KindDML {
			if st.AffectedRows == nil {
				return fmt.Sprintf("statement %d: affected rows unknown", st.Index+1)
			}
			total += *st.AffectedRows
		}
	}
	if total > 0 || slices.ContainsFunc(r.Statements, func(s review.Statement) bool { return s.Kind == review.KindDML }) {
		if total >= a.MaxAffectedRows {
			return fmt.Sprintf("about %d rows affected (limit %d)", total, a.MaxAffectedRows)
		}
	}
	return ""
}

// validateChain checks a chain's steps.
func validateChain(kind Kind, steps []Step) error {
	if len(steps) == 0 {
		return fmt.Errorf("WithChain(%s): no steps", kind)
	}
	var errs []string
	for i, s := range steps {
		if s.Approver == nil {
			errs = append(errs, fmt.Sprintf("step %d (%s) has no approver", i+1, s.Name))
		}
		if g, ok := s.Approver.(*Group); ok && len(g.Members) == 0 {
			errs = append(errs, fmt.Sprintf("step %d (%s): group %s has no members", i+1, s.Name, g.Name))
		}
	}
	if len(errs) > 0 {
		return errors.New("WithChain(" + string(kind) + "): " + strings.Join(errs, "; "))
	}
	return nil
}
