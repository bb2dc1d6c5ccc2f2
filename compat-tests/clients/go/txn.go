// Transactions: a plain transactional kgo producer (commit / abort) read back read_committed
// and read_uncommitted, and a kgo.GroupTransactSession consume-transform-produce loop.
package main

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// txnRec is one record of a transaction test: partition, key, value and the acked offset.
type txnRec struct {
	P      int32
	Key    string
	Value  string
	Offset int64
}

func txnBatch(tag string, n int, partitions int32) []*txnRec {
	out := make([]*txnRec, n)
	for i := range out {
		out[i] = &txnRec{P: int32(i) % partitions, Key: fmt.Sprintf("%s-%d", tag, i), Value: fmt.Sprintf("value-%s-%d", tag, i)}
	}
	return out
}

func txnClient(boot, txnID string, extra ...kgo.Opt) (*kgo.Client, error) {
	return newClient(boot, append([]kgo.Opt{
		kgo.TransactionalID(txnID),
		kgo.TransactionTimeout(60 * time.Second),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	}, extra...)...)
}

// txnProduce runs one transaction of rs on cl (commit or abort) and fills in the acked offsets.
func txnProduce(ctx context.Context, cl *kgo.Client, topic string, rs []*txnRec, commit bool) error {
	if err := cl.BeginTransaction(); err != nil {
		return fmt.Errorf("BeginTransaction: %w", err)
	}
	krs := make([]*kgo.Record, len(rs))
	for i, r := range rs {
		krs[i] = &kgo.Record{Topic: topic, Partition: r.P, Key: []byte(r.Key), Value: []byte(r.Value)}
	}
	res := cl.ProduceSync(ctx, krs...)
	if err := res.FirstErr(); err != nil {
		return fmt.Errorf("ProduceSync in a transaction: %w", err)
	}
	// the results come in completion order; the records are the ones passed in
	for i, kr := range krs {
		if kr.Partition != rs[i].P {
			return fmt.Errorf("%s acked in partition %d", rs[i].Key, kr.Partition)
		}
		rs[i].Offset = kr.Offset
	}
	end := kgo.TryAbort
	if commit {
		end = kgo.TryCommit
	}
	if err := cl.EndTransaction(ctx, end); err != nil {
		return fmt.Errorf("EndTransaction(commit=%v): %w", commit, err)
	}
	return nil
}

// readIsolated reads every partition of topic from the start at the given isolation level until
// want records arrived, then polls 1.5 s more for extras; records per partition in offset order.
func readIsolated(ctx context.Context, boot, topic string, partitions int32, level kgo.IsolationLevel, want int) (map[int32][]*kgo.Record, error) {
	offs := map[int32]kgo.Offset{}
	for p := int32(0); p < partitions; p++ {
		offs[p] = kgo.NewOffset().AtStart()
	}
	cl, err := newClient(boot,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offs}),
		kgo.FetchIsolationLevel(level),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	got := map[int32][]*kgo.Record{}
	n := 0
	poll := func(d time.Duration) error {
		pctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		fs := cl.PollFetches(pctx)
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if pctx.Err() == nil {
				ferr = fmt.Errorf("fetch %s/%d: %w", t, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], r)
			n++
		})
		return ferr
	}
	deadline := time.Now().Add(30 * time.Second)
	for n < want && time.Now().Before(deadline) {
		if err := poll(time.Second); err != nil {
			return got, err
		}
	}
	if n < want {
		return got, fmt.Errorf("read %d of %d records of %s in 30 s", n, want, topic)
	}
	if err := poll(1500 * time.Millisecond); err != nil {
		return got, err
	}
	return got, nil
}

// endOffsets lists the end offsets (high watermarks) of topic with kadm.
func endOffsets(ctx context.Context, boot, topic string) (kadm.ListedOffsets, error) {
	adm, acl, err := adminClient(boot)
	if err != nil {
		return nil, err
	}
	defer acl.Close()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("ListEndOffsets: %w", err)
	}
	return ends, nil
}

// expectTxnRecords: got holds exactly want (partition, offset, key, value), in offset order.
func expectTxnRecords(what string, got map[int32][]*kgo.Record, want []*txnRec) error {
	byP := map[int32][]*txnRec{}
	for _, r := range want {
		byP[r.P] = append(byP[r.P], r)
	}
	for p := range got {
		if _, ok := byP[p]; !ok {
			byP[p] = nil
		}
	}
	for p, w := range byP {
		sort.Slice(w, func(i, j int) bool { return w[i].Offset < w[j].Offset })
		g := got[p]
		if len(g) != len(w) {
			return fmt.Errorf("%s, partition %d: read %d records, want %d", what, p, len(g), len(w))
		}
		for i := range w {
			if g[i].Offset != w[i].Offset || string(g[i].Key) != w[i].Key || string(g[i].Value) != w[i].Value {
				return fmt.Errorf("%s, partition %d, record %d: read @%d %s=%s, want @%d %s=%s", what, p, i,
					g[i].Offset, g[i].Key, g[i].Value, w[i].Offset, w[i].Key, w[i].Value)
			}
		}
	}
	return nil
}

// txnCommitAbort: commit 18 records over 3 partitions, abort 9, commit 6; read_committed gets
// exactly the 24 committed at their acked offsets, read_uncommitted all 33; each partition's end
// offset is its records + 3 transaction markers.
func txnCommitAbort(ctx context.Context, boot, _ string) error {
	topic := uniqueTopic("kgo-txn")
	if err := createTopic(ctx, boot, topic, 3, nil); err != nil {
		return err
	}
	cl, err := txnClient(boot, topic+"-txn")
	if err != nil {
		return err
	}
	defer cl.Close()
	c1, ab, c2 := txnBatch("c1", 18, 3), txnBatch("ab", 9, 3), txnBatch("c2", 6, 3)
	if err := txnProduce(ctx, cl, topic, c1, true); err != nil {
		return err
	}
	if err := txnProduce(ctx, cl, topic, ab, false); err != nil {
		return err
	}
	if err := txnProduce(ctx, cl, topic, c2, true); err != nil {
		return err
	}
	committed := append(append([]*txnRec{}, c1...), c2...)
	all := append(append(append([]*txnRec{}, c1...), ab...), c2...)
	got, err := readIsolated(ctx, boot, topic, 3, kgo.ReadCommitted(), len(committed))
	if err == nil {
		err = expectTxnRecords("read_committed", got, committed)
	}
	if err != nil {
		return err
	}
	got, err = readIsolated(ctx, boot, topic, 3, kgo.ReadUncommitted(), len(all))
	if err == nil {
		err = expectTxnRecords("read_uncommitted", got, all)
	}
	if err != nil {
		return err
	}
	ends, err := endOffsets(ctx, boot, topic)
	if err != nil {
		return err
	}
	for p := int32(0); p < 3; p++ {
		e, _ := ends.Lookup(topic, p)
		want := int64(len(all)/3) + 3
		if e.Err != nil || e.Offset != want {
			return fmt.Errorf("partition %d: end offset %d (%v), want %d (records + 3 markers)", p, e.Offset, e.Err, want)
		}
	}
	logf("read_committed: exactly the %d committed records; read_uncommitted: all %d", len(committed), len(all))
	return nil
}

// txnGroupSession: an input topic (3 partitions) gets 12 committed and 6 aborted records; a
// kgo.GroupTransactSession (read_committed, RequireStableFetchOffsets) transforms the input into
// an output topic, one transaction per poll of at most 5 records (produce + group offsets +
// commit); the first transaction writes 'junk-' records and is aborted (End(TryAbort)), after
// which the session must deliver those input records again. The output read
// read_committed holds each committed input record exactly once, transformed, and nothing
// else; the group's committed offsets (kadm FetchOffsets) are past the last committed input
// record of every partition and at most the end offset.
func txnGroupSession(ctx context.Context, boot, _ string) error {
	in, out := uniqueTopic("kgo-txn-in"), uniqueTopic("kgo-txn-out")
	group := in + "-group"
	for _, t := range []string{in, out} {
		if err := createTopic(ctx, boot, t, 3, nil); err != nil {
			return err
		}
	}
	src, err := txnClient(boot, in+"-source")
	if err != nil {
		return err
	}
	c1, ab := txnBatch("in", 12, 3), txnBatch("in-aborted", 6, 3)
	err = txnProduce(ctx, src, in, ab, false)
	if err == nil {
		err = txnProduce(ctx, src, in, c1, true)
	}
	src.Close()
	if err != nil {
		return err
	}
	lastCommitted := map[int32]int64{}
	for _, r := range c1 {
		if r.Offset+1 > lastCommitted[r.P] {
			lastCommitted[r.P] = r.Offset + 1
		}
	}

	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(boot),
		kgo.ClientID("compat-franz-go"),
		kgo.TransactionalID(in+"-ctp"),
		kgo.TransactionTimeout(60*time.Second),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(in),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.SessionTimeout(10*time.Second),
		kgo.HeartbeatInterval(500*time.Millisecond),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.DefaultProduceTopic(out),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	)
	if err != nil {
		return err
	}
	defer sess.Close()
	done := map[string]bool{}
	transactions, aborted, abortedOnce := 0, 0, false
	deadline := time.Now().Add(60 * time.Second)
	for len(done) < len(c1) {
		if time.Now().After(deadline) {
			return fmt.Errorf("processed %d of %d committed input records in 60 s", len(done), len(c1))
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := sess.PollRecords(pctx, 5)
		cancel()
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if pctx.Err() == nil {
				ferr = fmt.Errorf("fetch %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		recs := fs.Records()
		if len(recs) == 0 {
			continue
		}
		if err := sess.Begin(); err != nil {
			return fmt.Errorf("Begin: %w", err)
		}
		var keys []string
		prefix := "out-"
		if !abortedOnce {
			prefix = "junk-"
		}
		for _, r := range recs {
			k := string(r.Key)
			if len(k) >= 10 && k[:10] == "in-aborted" {
				return fmt.Errorf("read_committed session got aborted record %s (p%d@%d)", k, r.Partition, r.Offset)
			}
			keys = append(keys, k)
			o := &kgo.Record{Partition: r.Partition, Key: r.Key, Value: append([]byte(prefix), r.Value...)}
			if res := sess.ProduceSync(ctx, o); res.FirstErr() != nil {
				return fmt.Errorf("ProduceSync in the session: %w", res.FirstErr())
			}
		}
		if !abortedOnce {
			// the first transaction is aborted: the session must rewind to the committed
			// offsets (none yet), so these records come again
			abortedOnce = true
			committed, err := sess.End(ctx, kgo.TryAbort)
			if err != nil || committed {
				return fmt.Errorf("End(TryAbort): committed=%v, %v", committed, err)
			}
			aborted = len(recs)
			continue
		}
		committed, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			return fmt.Errorf("End(TryCommit): %w", err)
		}
		if !committed {
			logf("a session transaction was aborted (rebalance); its records are read again")
			continue
		}
		transactions++
		for _, k := range keys {
			if done[k] {
				return fmt.Errorf("input record %s processed in two committed transactions", k)
			}
			done[k] = true
		}
	}

	want := make([]*txnRec, 0, len(c1))
	for _, r := range c1 {
		want = append(want, r)
	}
	got, err := readIsolated(ctx, boot, out, 3, kgo.ReadCommitted(), len(c1))
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	n := 0
	for _, rs := range got {
		for _, r := range rs {
			n++
			if seen[string(r.Key)] {
				return fmt.Errorf("output: %s twice", r.Key)
			}
			seen[string(r.Key)] = true
		}
	}
	for _, w := range want {
		var hit *kgo.Record
		for _, r := range got[w.P] {
			if string(r.Key) == w.Key {
				hit = r
			}
		}
		if hit == nil || string(hit.Value) != "out-"+w.Value {
			return fmt.Errorf("output partition %d lacks %s=out-%s (read_committed)", w.P, w.Key, w.Value)
		}
	}
	if n != len(c1) {
		return fmt.Errorf("output holds %d records read_committed, want %d", n, len(c1))
	}

	ends, err := endOffsets(ctx, boot, in)
	if err != nil {
		return err
	}
	adm, acl, err := adminClient(boot)
	if err != nil {
		return err
	}
	defer acl.Close()
	// Kafka answers EndTxn before the markers that make the offsets visible are written, and kadm's
	// FetchOffsets does not ask for stable offsets: retry a bounded number of times.
	var desc []string
	for attempt := 0; ; attempt++ {
		offs, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			return fmt.Errorf("FetchOffsets: %w", err)
		}
		desc = desc[:0]
		var bad error
		for p := int32(0); p < 3; p++ {
			o, ok := offs.Lookup(in, p)
			e, _ := ends.Lookup(in, p)
			if !ok || o.Err != nil || o.At < lastCommitted[p] || o.At > e.Offset {
				bad = fmt.Errorf("group %s partition %d: committed offset %d (%v, found %v), want %d..%d (past the last committed record, at most the end offset)",
					group, p, o.At, o.Err, ok, lastCommitted[p], e.Offset)
				break
			}
			desc = append(desc, fmt.Sprintf("p%d=%d (last record+1 %d, end %d)", p, o.At, lastCommitted[p], e.Offset))
		}
		if bad == nil {
			break
		}
		if attempt >= 50 {
			return bad
		}
		time.Sleep(100 * time.Millisecond)
	}
	logf("first session transaction (%d records) aborted; %d input records transformed exactly once in %d session transactions; group offsets %v",
		aborted, len(c1), transactions, desc)
	return nil
}
