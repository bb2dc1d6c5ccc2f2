// Consumer-group scenarios: kgo.ConsumerGroup members with the range and the cooperative-sticky
// balancers and with static membership (kgo.InstanceID), checked against what they consume and
// against the group as kadm sees it (ListGroups, DescribeGroups, FetchOffsets, LeaveGroup,
// DeleteGroups).
package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// member is one kgo group consumer and the partitions of its topic it owns, as the group
// callbacks report them.
type member struct {
	name    string
	cl      *kgo.Client
	mu      sync.Mutex
	owned   map[int32]bool
	revoked []int32 // every partition ever revoked from or lost by this member
}

func newMember(boot, group, topic, name string, opts ...kgo.Opt) (*member, error) {
	m := &member{name: name, owned: map[int32]bool{}}
	drop := func(_ context.Context, _ *kgo.Client, gone map[string][]int32) {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, p := range gone[topic] {
			delete(m.owned, p)
			m.revoked = append(m.revoked, p)
		}
	}
	base := []kgo.Opt{
		kgo.ClientID("compat-franz-go-" + name),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(10 * time.Second), // the broker's group.min.session.timeout.ms is 6000
		kgo.HeartbeatInterval(500 * time.Millisecond),
		kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range a[topic] {
				m.owned[p] = true
			}
		}),
		kgo.OnPartitionsRevoked(drop),
		kgo.OnPartitionsLost(drop),
	}
	cl, err := newClient(boot, append(base, opts...)...)
	if err != nil {
		return nil, err
	}
	m.cl = cl
	return m, nil
}

func (m *member) assignment() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ps []int32
	for p := range m.owned {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps
}

func (m *member) revokedSoFar() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]int32(nil), m.revoked...)
}

// poll returns what one PollFetches brings within d (a timeout is not an error).
func (m *member) poll(ctx context.Context, d time.Duration) ([]*kgo.Record, error) {
	pctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	fs := m.cl.PollFetches(pctx)
	var ferr error
	fs.EachError(func(t string, p int32, err error) {
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			ferr = fmt.Errorf("member %s: fetch %s/%d: %w", m.name, t, p, err)
		}
	})
	return fs.Records(), ferr
}

func closeAll(ms []*member) {
	for _, m := range ms {
		m.cl.Close()
	}
}

// waitSplit polls every member (bounded) until their assignments are non-empty, disjoint and
// together exactly partitions 0..n-1. Every committed offset is at the end of its partition
// here: a record polled while waiting means the committed offsets were not used.
func waitSplit(ctx context.Context, ms []*member, n int32) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		seen := map[int32]int{}
		ok := true
		var desc []string
		for _, m := range ms {
			recs, err := m.poll(ctx, 100*time.Millisecond)
			if err != nil {
				return err
			}
			if len(recs) > 0 {
				return fmt.Errorf("member %s polled %d records although every committed offset is at the end (first: partition %d offset %d)", m.name, len(recs), recs[0].Partition, recs[0].Offset)
			}
			a := m.assignment()
			desc = append(desc, fmt.Sprintf("%s=%v", m.name, a))
			ok = ok && len(a) > 0
			for _, p := range a {
				seen[p]++
			}
		}
		for p := int32(0); p < n; p++ {
			ok = ok && seen[p] == 1
		}
		if ok && len(seen) == int(n) {
			logf("partitions split: %v", desc)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no split of %d partitions among %d members within 30 s: %v", n, len(ms), desc)
		}
	}
}

// drain polls every member in turn until count records arrived (bounded), then once more to
// catch extra records. Returns per member the records per partition.
func drain(ctx context.Context, ms []*member, count int) ([]map[int32][]*kgo.Record, error) {
	got := make([]map[int32][]*kgo.Record, len(ms))
	for i := range got {
		got[i] = map[int32][]*kgo.Record{}
	}
	total := 0
	take := func(d time.Duration) error {
		for i, m := range ms {
			recs, err := m.poll(ctx, d)
			if err != nil {
				return err
			}
			for _, r := range recs {
				got[i][r.Partition] = append(got[i][r.Partition], r)
				total++
			}
		}
		return nil
	}
	for deadline := time.Now().Add(30 * time.Second); total < count && time.Now().Before(deadline); {
		if err := take(200 * time.Millisecond); err != nil {
			return nil, err
		}
	}
	if err := take(300 * time.Millisecond); err != nil {
		return nil, err
	}
	if total != count {
		return nil, fmt.Errorf("consumed %d records, want %d", total, count)
	}
	return got, nil
}

// checkConsumed: each partition was consumed by exactly one member, which owns it, and equals
// want byte for byte from offset base. Then each member commits what it consumed.
func checkConsumed(ctx context.Context, ms []*member, got []map[int32][]*kgo.Record, want map[int32][]rec, base int64) error {
	for p, rs := range want {
		var by []int
		for i := range got {
			if _, ok := got[i][p]; ok {
				by = append(by, i)
			}
		}
		if len(by) != 1 {
			return fmt.Errorf("partition %d consumed by %d members, want exactly one", p, len(by))
		}
		m := ms[by[0]]
		owns := false
		for _, q := range m.assignment() {
			owns = owns || q == p
		}
		if !owns {
			return fmt.Errorf("partition %d consumed by %s, which owns %v", p, m.name, m.assignment())
		}
		var gotRecs []rec
		for _, r := range got[by[0]][p] {
			gotRecs = append(gotRecs, rec{Key: r.Key, Value: r.Value, Headers: r.Headers, TS: r.Timestamp.UnixMilli(), Offset: r.Offset, TSType: r.Attrs.TimestampType()})
		}
		if err := compare(p, rs, gotRecs, base); err != nil {
			return fmt.Errorf("member %s: %w", m.name, err)
		}
	}
	for i, m := range ms {
		var all []*kgo.Record
		for _, rs := range got[i] {
			all = append(all, rs...)
		}
		if err := m.cl.CommitRecords(ctx, all...); err != nil {
			return fmt.Errorf("member %s: CommitRecords: %w", m.name, err)
		}
	}
	return nil
}

// checkCommitted: kadm FetchOffsets gives exactly want on partitions 0..n-1 of topic.
func checkCommitted(ctx context.Context, adm *kadm.Client, group, topic string, n int32, want int64) error {
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return fmt.Errorf("FetchOffsets: %w", err)
	}
	if len(offs[topic]) != int(n) {
		return fmt.Errorf("FetchOffsets: %d partitions of %s committed, want %d: %+v", len(offs[topic]), topic, n, offs[topic])
	}
	for p := int32(0); p < n; p++ {
		o, ok := offs.Lookup(topic, p)
		if !ok || o.Err != nil || o.At != want {
			return fmt.Errorf("FetchOffsets partition %d: %+v (found %v), want %d", p, o, ok, want)
		}
	}
	return nil
}

// describeMembers: DescribeGroups of a group with live members: state Stable, the protocol,
// and per member (by client id) the assignment equal to what the client owns.
func describeMembers(ctx context.Context, adm *kadm.Client, group, protocol, topic string, ms []*member) (kadm.DescribedGroup, error) {
	dg, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return kadm.DescribedGroup{}, fmt.Errorf("DescribeGroups: %w", err)
	}
	d := dg[group]
	if d.Err != nil || d.State != "Stable" || d.ProtocolType != "consumer" || d.Protocol != protocol || len(d.Members) != len(ms) {
		return d, fmt.Errorf("DescribeGroups: err %v state %q protocol type %q protocol %q, %d members; want Stable, consumer, %s, %d", d.Err, d.State, d.ProtocolType, d.Protocol, len(d.Members), protocol, len(ms))
	}
	for _, m := range ms {
		found := false
		for _, dm := range d.Members {
			if dm.ClientID != "compat-franz-go-"+m.name {
				continue
			}
			found = true
			a, ok := dm.Assigned.AsConsumer()
			if !ok {
				return d, fmt.Errorf("DescribeGroups: member %s: assignment is not a consumer assignment", m.name)
			}
			var ps []int32
			for _, t := range a.Topics {
				if t.Topic == topic {
					ps = append(ps, t.Partitions...)
				}
			}
			sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
			if fmt.Sprint(ps) != fmt.Sprint(m.assignment()) {
				return d, fmt.Errorf("DescribeGroups: member %s assigned %v, the client owns %v", m.name, ps, m.assignment())
			}
		}
		if !found {
			return d, fmt.Errorf("DescribeGroups: no member with client id compat-franz-go-%s", m.name)
		}
	}
	return d, nil
}

// adminAfter: the group without members: listed (Empty), described Empty, offsets exact; then
// DeleteGroups, after which it is not listed and has no committed offsets.
func adminAfter(ctx context.Context, adm *kadm.Client, group, topic string, n int32, want int64) error {
	lg, err := adm.ListGroups(ctx)
	if err != nil {
		return fmt.Errorf("ListGroups: %w", err)
	}
	if g, ok := lg[group]; !ok || g.ProtocolType != "consumer" || g.State != "Empty" {
		return fmt.Errorf("ListGroups: %s: %+v (listed %v), want protocol type consumer, state Empty", group, g, ok)
	}
	dg, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return fmt.Errorf("DescribeGroups: %w", err)
	}
	if d := dg[group]; d.Err != nil || d.State != "Empty" || len(d.Members) != 0 {
		return fmt.Errorf("DescribeGroups after every member left: err %v state %q, %d members", d.Err, d.State, len(d.Members))
	}
	if err := checkCommitted(ctx, adm, group, topic, n, want); err != nil {
		return err
	}
	del, err := adm.DeleteGroups(ctx, group)
	if err != nil {
		return fmt.Errorf("DeleteGroups: %w", err)
	}
	if r := del[group]; r.Err != nil {
		return fmt.Errorf("DeleteGroups: %w", r.Err)
	}
	lg, err = adm.ListGroups(ctx)
	if err != nil {
		return fmt.Errorf("ListGroups: %w", err)
	}
	if _, ok := lg[group]; ok {
		return fmt.Errorf("ListGroups: %s still listed after DeleteGroups", group)
	}
	offs, err := adm.FetchOffsets(ctx, group)
	if err == nil && len(offs[topic]) != 0 {
		return fmt.Errorf("FetchOffsets after DeleteGroups: %+v", offs[topic])
	}
	return nil
}

// groupScenario: one group, three partitions:
//  1. member a consumes everything from the earliest offset, commits, closes;
//  2. more records; member b resumes exactly after the committed offsets;
//  3. member c joins and owns every partition, then d joins: disjoint non-empty assignments
//     covering all partitions (DescribeGroups agrees); more records, each partition read by its
//     owner only; with a cooperative balancer c gives up only what d gets;
//  4. after close: ListGroups, DescribeGroups, FetchOffsets, DeleteGroups.
func groupScenario(ctx context.Context, boot, prefix, protocol string, balancer kgo.GroupBalancer) error {
	const n = int32(3)
	topic, group, adm, acl, err := groupSetup(ctx, boot, prefix, n)
	if err != nil {
		return err
	}
	defer acl.Close()
	parts := []int32{0, 1, 2}
	base := int64(0)
	for step, names := range [][]string{{"a"}, {"b"}, {"c", "d"}} {
		per := 2
		if step == 0 {
			per = 4
		}
		recs := recordsFor(parts, per, fmt.Sprintf("%s-step%d", prefix, step+1), true)
		var ms []*member
		err := func() error {
			defer func() { closeAll(ms) }()
			if step < 2 {
				if err := produceAt(ctx, boot, topic, recs, base); err != nil {
					return err
				}
			}
			for _, name := range names {
				m, err := newMember(boot, group, topic, name, kgo.Balancers(balancer))
				if err != nil {
					return err
				}
				ms = append(ms, m)
				if step == 2 {
					if err := waitSplit(ctx, ms, n); err != nil {
						return err
					}
				}
			}
			if step == 2 {
				c, d := ms[0], ms[1]
				if protocol == "cooperative-sticky" {
					// incremental: c gave up exactly what d got, and never lost what it kept
					if fmt.Sprint(sortedCopy(c.revokedSoFar())) != fmt.Sprint(d.assignment()) {
						return fmt.Errorf("cooperative rebalance: c revoked %v, d got %v", c.revokedSoFar(), d.assignment())
					}
				}
				if _, err := describeMembers(ctx, adm, group, protocol, topic, ms); err != nil {
					return err
				}
				if err := produceAt(ctx, boot, topic, recs, base); err != nil {
					return err
				}
			}
			got, err := drain(ctx, ms, per*len(parts))
			if err != nil {
				return err
			}
			if err := checkConsumed(ctx, ms, got, recs, base); err != nil {
				return err
			}
			base += int64(per)
			if err := checkCommitted(ctx, adm, group, topic, n, base); err != nil {
				return err
			}
			logf("step %d: members %v consumed %d records, committed %d on every partition", step+1, names, per*len(parts), base)
			return nil
		}()
		if err != nil {
			return fmt.Errorf("step %d: %w", step+1, err)
		}
	}
	return adminAfter(ctx, adm, group, topic, n, base)
}

// groupSetup creates a topic with n partitions and names a group for it; the caller closes acl.
func groupSetup(ctx context.Context, boot, prefix string, n int32) (topic, group string, adm *kadm.Client, acl *kgo.Client, err error) {
	topic, group = uniqueTopic(prefix), uniqueTopic(prefix+"-group")
	// the records carry 2023 CreateTime timestamps: without retention.ms=-1, Kafka's retention
	// check (every 5 min) may delete them between two steps
	forever := "-1"
	if err = createTopic(ctx, boot, topic, n, map[string]*string{"retention.ms": &forever}); err != nil {
		return
	}
	adm, acl, err = adminClient(boot)
	return
}

func sortedCopy(ps []int32) []int32 {
	out := append([]int32(nil), ps...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func groupRange(ctx context.Context, boot, _ string) error {
	return groupScenario(ctx, boot, "kgo-range", "range", kgo.RangeBalancer())
}

func groupCooperative(ctx context.Context, boot, _ string) error {
	return groupScenario(ctx, boot, "kgo-coop", "cooperative-sticky", kgo.CooperativeStickyBalancer())
}

// groupStatic: static members (kgo.InstanceID) c and d split the partitions. d closes (a static
// member sends no LeaveGroup: the group keeps it) and a new client with d's instance id joins
// within the session timeout: it gets d's partitions back in the same generation, c keeps its
// partitions and is not rebalanced. Then both consume and commit, are removed with kadm
// LeaveGroup by instance id, and the group is deleted.
func groupStatic(ctx context.Context, boot, _ string) error {
	const n = int32(3)
	topic, group, adm, acl, err := groupSetup(ctx, boot, "kgo-static", n)
	if err != nil {
		return err
	}
	defer acl.Close()
	static := func(name string) (*member, error) {
		return newMember(boot, group, topic, name, kgo.InstanceID("static-"+group+"-"+name), kgo.SessionTimeout(30*time.Second))
	}
	var ms []*member
	defer func() { closeAll(ms) }()
	for _, name := range []string{"c", "d"} {
		m, err := static(name)
		if err != nil {
			return err
		}
		ms = append(ms, m)
		if err := waitSplit(ctx, ms, n); err != nil {
			return err
		}
	}
	// d restarts, not c: c joined first and leads the group, and a restarted static leader
	// that gets its old plan back rejoins on purpose (franz-go checks the plan), which is a
	// rebalance the client asks for, not one the coordinator makes.
	c, d := ms[0], ms[1]
	dMember, gen := d.cl.GroupMetadata()
	if _, cGen := c.cl.GroupMetadata(); cGen != gen {
		return fmt.Errorf("c is in generation %d, d in %d", cGen, gen)
	}
	cOwned, dOwned, cRevoked := fmt.Sprint(c.assignment()), fmt.Sprint(d.assignment()), len(c.revokedSoFar())
	desc, err := describeMembers(ctx, adm, group, "cooperative-sticky", topic, ms)
	if err != nil {
		return err
	}
	for _, dm := range desc.Members {
		if dm.InstanceID == nil || *dm.InstanceID != "static-"+group+"-"+dm.ClientID[len("compat-franz-go-"):] {
			return fmt.Errorf("DescribeGroups: member %s has instance id %v", dm.ClientID, dm.InstanceID)
		}
	}
	logf("generation %d: c owns %s, d owns %s", gen, cOwned, dOwned)

	d.cl.Close()
	ms = ms[:1]
	// the static member did not leave: the group still has both members and no rebalance
	desc, err = describeMembersRaw(ctx, adm, group)
	if err != nil {
		return err
	}
	if len(desc.Members) != 2 || desc.State != "Stable" {
		return fmt.Errorf("after the static member d closed: state %q, %d members, want Stable with 2 (a static member does not leave)", desc.State, len(desc.Members))
	}
	d2, err := static("d")
	if err != nil {
		return err
	}
	ms = append(ms, d2)
	if err := waitSplit(ctx, ms, n); err != nil {
		return err
	}
	d2Member, d2Gen := d2.cl.GroupMetadata()
	_, cGen := c.cl.GroupMetadata()
	if d2Gen != gen || cGen != gen {
		return fmt.Errorf("after d rejoined with its instance id: generations c %d, d %d, want %d (no rebalance)", cGen, d2Gen, gen)
	}
	if got := fmt.Sprint(d2.assignment()); got != dOwned {
		return fmt.Errorf("d rejoined with %s, owned %s before", got, dOwned)
	}
	if got := fmt.Sprint(c.assignment()); got != cOwned || len(c.revokedSoFar()) != cRevoked {
		return fmt.Errorf("c owns %s (revoked %v), owned %s before d rejoined", got, c.revokedSoFar(), cOwned)
	}
	if d2Member == dMember {
		return fmt.Errorf("d rejoined with the old member id %s: the coordinator must give a new one", dMember)
	}
	if desc, err = describeMembers(ctx, adm, group, "cooperative-sticky", topic, ms); err != nil {
		return err
	}
	logf("d rejoined as %s in generation %d with %s; group %s", d2Member, d2Gen, dOwned, desc.State)

	recs := recordsFor([]int32{0, 1, 2}, 2, "static", true)
	if err := produceAt(ctx, boot, topic, recs, 0); err != nil {
		return err
	}
	got, err := drain(ctx, ms, 6)
	if err != nil {
		return err
	}
	if err := checkConsumed(ctx, ms, got, recs, 0); err != nil {
		return err
	}
	closeAll(ms)
	ms = nil
	lr, err := adm.LeaveGroup(ctx, kadm.LeaveGroup(group).InstanceIDs("static-"+group+"-c", "static-"+group+"-d"))
	if err != nil {
		return fmt.Errorf("LeaveGroup: %w", err)
	}
	if err := lr.Error(); err != nil {
		return fmt.Errorf("LeaveGroup: %w", err)
	}
	return adminAfter(ctx, adm, group, topic, n, 2)
}

func describeMembersRaw(ctx context.Context, adm *kadm.Client, group string) (kadm.DescribedGroup, error) {
	dg, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return kadm.DescribedGroup{}, fmt.Errorf("DescribeGroups: %w", err)
	}
	d := dg[group]
	return d, d.Err
}
