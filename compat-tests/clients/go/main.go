// franz-go (kgo, kadm) scenarios against a Kafka-compatible broker.
//
//	compat BOOTSTRAP list                  names of the scenarios
//	compat BOOTSTRAP versions              "franz-go vX (kadm vY)"
//	compat BOOTSTRAP SCENARIO [FILE]       run one scenario; exit 0 = pass
//	compat BOOTSTRAP verify-json FILE      read back what another client produced (FILE is the
//	                                       JSON it wrote) and check it byte for byte
//
// Every check is on the exact bytes: keys (null vs empty), values (null vs empty), headers
// (order, duplicates, empty values), timestamps and their type, offsets and partitions.
// The produce/consume scenarios use kgo.ConsumePartitions (direct assign); the kgo-group-*
// scenarios (groups.go) use consumer groups; the kgo-txn-* scenarios (txn.go) transactions.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sort"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Explicit CreateTime timestamps from an hour ago: fixed old timestamps would be past retention.ms
// (7 days), and the broker's periodic retention check could delete the data between produce and
// consume.
var baseTS = (time.Now().Unix() - 3600) * 1000

type rec struct {
	Key     []byte
	Value   []byte
	Headers []kgo.RecordHeader
	TS      int64
	Offset  int64
	TSType  int8
}

func logf(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }

func uniqueTopic(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%x", prefix, b)
}

// recordsFor is the record set the produce scenarios send, per partition, in offset order.
// randomBig=false makes the 100 KiB value compressible (kgo sends a batch uncompressed when
// compressing does not make it smaller).
func recordsFor(partitions []int32, perPartition int, tag string, randomBig bool) map[int32][]rec {
	out := map[int32][]rec{}
	ts := baseTS
	for _, p := range partitions {
		var rs []rec
		for i := 0; i < perPartition; i++ {
			ts += 1000 + int64(p)
			r := rec{
				Key:   []byte(fmt.Sprintf("key-%d-%d-%s", p, i, tag)),
				Value: append([]byte(fmt.Sprintf("value-%d-%d-%s-", p, i, tag)), byte(i), 0, 255, 10, 13),
				Headers: []kgo.RecordHeader{
					{Key: "h", Value: []byte(strconv.Itoa(i))},
					{Key: "h", Value: []byte(fmt.Sprintf("dup-%d", i))},
					{Key: "été", Value: []byte("café")},
				},
				TS: ts,
			}
			switch i {
			case 1:
				r.Key = nil
			case 2:
				r.Value = make([]byte, 256)
				for j := range r.Value {
					r.Value[j] = byte(j)
				}
				r.Headers = nil
			case 3:
				r.Value = []byte{}
				r.Headers = []kgo.RecordHeader{{Key: "empty", Value: []byte{}}}
			case 4:
				r.Value = nil // tombstone
			case 5:
				r.Value = make([]byte, 100*1024)
				if randomBig {
					_, _ = rand.Read(r.Value)
				} else {
					copy(r.Value, bytes.Repeat([]byte(fmt.Sprintf("%d compressible %s", p, tag)), 10000))
				}
				r.Key = []byte("\x00\xff\x00binary-key")
			}
			rs = append(rs, r)
		}
		out[p] = rs
	}
	return out
}

func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

func short(b []byte) string {
	if b == nil {
		return "<null>"
	}
	if len(b) > 40 {
		return fmt.Sprintf("%q...(%d bytes)", b[:40], len(b))
	}
	return fmt.Sprintf("%q", b)
}

func compare(p int32, want, got []rec, first int64) error {
	if len(got) != len(want) {
		return fmt.Errorf("partition %d: want %d records from offset %d, got %d", p, len(want), first, len(got))
	}
	for n := range want {
		w, g := want[n], got[n]
		off := first + int64(n)
		at := fmt.Sprintf("partition %d offset %d", p, off)
		if g.Offset != off {
			return fmt.Errorf("%s: consumed offset %d", at, g.Offset)
		}
		if !sameBytes(w.Key, g.Key) {
			return fmt.Errorf("%s: key %s != %s", at, short(g.Key), short(w.Key))
		}
		if !sameBytes(w.Value, g.Value) {
			return fmt.Errorf("%s: value %s != %s", at, short(g.Value), short(w.Value))
		}
		if len(w.Headers) != len(g.Headers) {
			return fmt.Errorf("%s: headers %v != %v", at, g.Headers, w.Headers)
		}
		for i := range w.Headers {
			// header values: null and empty are both "no bytes" for most clients; compare bytes
			if w.Headers[i].Key != g.Headers[i].Key || !bytes.Equal(w.Headers[i].Value, g.Headers[i].Value) {
				return fmt.Errorf("%s: header %d %q=%q != %q=%q", at, i, g.Headers[i].Key, g.Headers[i].Value, w.Headers[i].Key, w.Headers[i].Value)
			}
		}
		if g.TS != w.TS {
			return fmt.Errorf("%s: timestamp %d != %d", at, g.TS, w.TS)
		}
		if g.TSType != 0 {
			return fmt.Errorf("%s: timestamp type %d, want 0 (CreateTime)", at, g.TSType)
		}
	}
	return nil
}

func newClient(boot string, opts ...kgo.Opt) (*kgo.Client, error) {
	base := []kgo.Opt{
		kgo.SeedBrokers(boot),
		kgo.ClientID("compat-franz-go"),
		kgo.ProducerBatchMaxBytes(2 << 20),
		kgo.RequestRetries(5),
		kgo.RetryTimeout(20 * time.Second),
	}
	return kgo.NewClient(append(base, opts...)...)
}

// produce sends recs with a default (idempotent, acks=all) kgo producer to explicit partitions
// and checks the acked offsets and timestamps.
func produce(ctx context.Context, boot, topic string, recs map[int32][]rec, extra ...kgo.Opt) error {
	return produceAt(ctx, boot, topic, recs, 0, extra...)
}

// produceAt is produce to partitions that already hold base records each.
func produceAt(ctx context.Context, boot, topic string, recs map[int32][]rec, base int64, extra ...kgo.Opt) error {
	cl, err := newClient(boot, append([]kgo.Opt{kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5 * time.Millisecond)}, extra...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	var krs []*kgo.Record
	for p, rs := range recs {
		for _, r := range rs {
			krs = append(krs, &kgo.Record{Topic: topic, Partition: p, Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: time.UnixMilli(r.TS)})
		}
	}
	res := cl.ProduceSync(ctx, krs...)
	if err := res.FirstErr(); err != nil {
		return fmt.Errorf("ProduceSync: %w", err)
	}
	next := map[int32]int64{}
	for _, r := range res {
		want := base + next[r.Record.Partition]
		next[r.Record.Partition]++
		if r.Record.Offset != want {
			return fmt.Errorf("partition %d: record acked at offset %d, want %d", r.Record.Partition, r.Record.Offset, want)
		}
		if r.Record.ProducerID < 0 {
			return fmt.Errorf("record produced without a producer id: not idempotent")
		}
	}
	return nil
}

// consume reads count records from (topic, p) starting at offset, with direct assignment.
func consume(ctx context.Context, boot, topic string, p int32, offset int64, count int) ([]rec, error) {
	cl, err := newClient(boot,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().At(offset)}}),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var got []rec
	for len(got) < count {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("fetch %s/%d: %w", t, p, err) })
		if ferr != nil {
			return got, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			got = append(got, rec{Key: r.Key, Value: r.Value, Headers: r.Headers, TS: r.Timestamp.UnixMilli(), Offset: r.Offset, TSType: r.Attrs.TimestampType()})
		})
	}
	return got, nil
}

func adminClient(boot string) (*kadm.Client, *kgo.Client, error) {
	// kgo answers kadm's metadata requests from its cache for up to MetadataMinAge (5 s by
	// default): a deleted topic would stay listed that long without this.
	cl, err := newClient(boot, kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		return nil, nil, err
	}
	return kadm.NewClient(cl), cl, nil
}

func createTopic(ctx context.Context, boot, topic string, partitions int32, configs map[string]*string) error {
	adm, cl, err := adminClient(boot)
	if err != nil {
		return err
	}
	defer cl.Close()
	r, err := adm.CreateTopic(ctx, partitions, 1, configs, topic)
	if err != nil {
		return fmt.Errorf("CreateTopic: %w", err)
	}
	return r.Err
}

func checkOffsets(ctx context.Context, boot, topic string, recs map[int32][]rec) error {
	adm, cl, err := adminClient(boot)
	if err != nil {
		return err
	}
	defer cl.Close()
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("ListStartOffsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("ListEndOffsets: %w", err)
	}
	for p, rs := range recs {
		s, _ := starts.Lookup(topic, p)
		e, _ := ends.Lookup(topic, p)
		if s.Err != nil || e.Err != nil || s.Offset != 0 || e.Offset != int64(len(rs)) {
			return fmt.Errorf("partition %d: start/end offsets %d/%d (%v/%v), want 0/%d", p, s.Offset, e.Offset, s.Err, e.Err, len(rs))
		}
		at, err := adm.ListOffsetsAfterMilli(ctx, rs[4].TS, topic)
		if err != nil {
			return fmt.Errorf("ListOffsetsAfterMilli: %w", err)
		}
		o, _ := at.Lookup(topic, p)
		if o.Err != nil || o.Offset != 4 {
			return fmt.Errorf("partition %d: offset for timestamp %d = %d (%v), want 4", p, rs[4].TS, o.Offset, o.Err)
		}
	}
	return nil
}

func roundtrip(ctx context.Context, boot, file string) error {
	topic := uniqueTopic("kgo-rt")
	if err := createTopic(ctx, boot, topic, 3, nil); err != nil {
		return err
	}
	recs := recordsFor([]int32{0, 2}, 7, "go", true)
	if err := produce(ctx, boot, topic, recs); err != nil {
		return err
	}
	for p, rs := range recs {
		got, err := consume(ctx, boot, topic, p, 0, len(rs))
		if err != nil {
			return err
		}
		if err := compare(p, rs, got, 0); err != nil {
			return err
		}
		got, err = consume(ctx, boot, topic, p, 3, len(rs)-3)
		if err != nil {
			return err
		}
		if err := compare(p, rs[3:], got, 3); err != nil {
			return err
		}
	}
	if err := checkOffsets(ctx, boot, topic, recs); err != nil {
		return err
	}
	logf("topic %s: %d records checked", topic, 14)
	if file != "" {
		return writeJSON(file, topic, recs)
	}
	return nil
}

// compression: the default (idempotent) kgo producer with each codec, read back by kgo.
func compression(ctx context.Context, boot, _ string) error {
	codecs := map[string]kgo.CompressionCodec{"gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(), "lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression()}
	for _, name := range []string{"gzip", "snappy", "lz4", "zstd"} {
		topic := uniqueTopic("kgo-" + name)
		if err := createTopic(ctx, boot, topic, 3, nil); err != nil {
			return err
		}
		recs := recordsFor([]int32{0, 2}, 7, name, false)
		if err := produce(ctx, boot, topic, recs, kgo.ProducerBatchCompression(codecs[name])); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		for p, rs := range recs {
			for _, from := range []int64{0, 3} {
				got, err := consume(ctx, boot, topic, p, from, len(rs)-int(from))
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				if err := compare(p, rs[from:], got, from); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
			}
		}
		logf("%s: topic %s: 14 records checked", name, topic)
	}
	return nil
}

func admin(ctx context.Context, boot, _ string) error {
	adm, cl, err := adminClient(boot)
	if err != nil {
		return err
	}
	defer cl.Close()
	topic := uniqueTopic("kadm")
	ret, mmb := "123456789", "2000000"
	cr, err := adm.CreateTopic(ctx, 3, 1, map[string]*string{"retention.ms": &ret, "max.message.bytes": &mmb}, topic)
	if err != nil || cr.Err != nil {
		return fmt.Errorf("CreateTopic: %v %v", err, cr.Err)
	}
	if cr.ID == (kadm.TopicID{}) {
		return fmt.Errorf("CreateTopic returned no topic id")
	}
	all, err := adm.ListTopics(ctx)
	if err != nil {
		return fmt.Errorf("ListTopics: %w", err)
	}
	if !all.Has(topic) {
		return fmt.Errorf("created topic %s not in ListTopics (%v)", topic, all.Names())
	}
	det, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return fmt.Errorf("ListTopics(%s): %w", topic, err)
	}
	td := det[topic]
	if td.Err != nil || len(td.Partitions) != 3 || td.ID != cr.ID {
		return fmt.Errorf("describe %s: err %v, %d partitions, id %v vs created %v", topic, td.Err, len(td.Partitions), td.ID, cr.ID)
	}
	for _, pd := range td.Partitions.Sorted() {
		if pd.Err != nil || pd.Leader < 0 || len(pd.Replicas) != 1 || len(pd.ISR) != 1 {
			return fmt.Errorf("partition %d: err %v leader %d replicas %v isr %v", pd.Partition, pd.Err, pd.Leader, pd.Replicas, pd.ISR)
		}
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return fmt.Errorf("DescribeTopicConfigs: %w", err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		return fmt.Errorf("DescribeTopicConfigs %s: %v %v", topic, err, rc.Err)
	}
	vals := map[string]string{}
	for _, c := range rc.Configs {
		vals[c.Key] = c.MaybeValue()
	}
	logf("topic configs: retention.ms=%q max.message.bytes=%q cleanup.policy=%q", vals["retention.ms"], vals["max.message.bytes"], vals["cleanup.policy"])
	if vals["retention.ms"] != ret || vals["max.message.bytes"] != mmb || vals["cleanup.policy"] != "delete" {
		return fmt.Errorf("DescribeTopicConfigs: retention.ms=%q max.message.bytes=%q cleanup.policy=%q", vals["retention.ms"], vals["max.message.bytes"], vals["cleanup.policy"])
	}
	// Describe one broker by id: with no id, Kafka describes the cluster-wide dynamic
	// defaults only (none on a fresh broker), not the broker's own configs.
	brokers, err := adm.ListBrokers(ctx)
	if err != nil || len(brokers) != 1 {
		return fmt.Errorf("ListBrokers: %v %+v", err, brokers)
	}
	bcs, err := adm.DescribeBrokerConfigs(ctx, brokers[0].NodeID)
	if err != nil || len(bcs) != 1 || bcs[0].Err != nil || len(bcs[0].Configs) < 10 {
		return fmt.Errorf("DescribeBrokerConfigs(%d): %v %+v", brokers[0].NodeID, err, bcs)
	}
	hasNumPartitions := false
	for _, c := range bcs[0].Configs {
		if c.Key == "num.partitions" && c.Value != nil && *c.Value == "1" {
			hasNumPartitions = true
		}
	}
	if !hasNumPartitions {
		return fmt.Errorf("DescribeBrokerConfigs(%d): no num.partitions=1 in %d configs", brokers[0].NodeID, len(bcs[0].Configs))
	}
	cps, err := adm.CreatePartitions(ctx, 2, topic)
	if err != nil {
		return fmt.Errorf("CreatePartitions: %w", err)
	}
	if cp := cps[topic]; cp.Err != nil {
		return fmt.Errorf("CreatePartitions: %w", cp.Err)
	}
	// Kafka propagates metadata asynchronously: poll (bounded, 15 s) until the new count shows.
	for wait := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		det, err = adm.ListTopics(ctx, topic)
		if err == nil && len(det[topic].Partitions) == 5 {
			break
		}
		if time.Now().After(wait) {
			return fmt.Errorf("after CreatePartitions(+2): %v, %d partitions", err, len(det[topic].Partitions))
		}
	}
	drs, err := adm.DeleteTopics(ctx, topic)
	if err != nil {
		return fmt.Errorf("DeleteTopics: %w", err)
	}
	if dr := drs[topic]; dr.Err != nil {
		return fmt.Errorf("DeleteTopics: %w", dr.Err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		all, err = adm.ListTopics(ctx)
		if err == nil && !all.Has(topic) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("deleted topic still listed (err %v)", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil
}

// deleteRecordsAlterConfigs: kadm DeleteRecords moves the log start offset (ListStartOffsets and a
// consumer from there see exactly what is left); AlterTopicConfigs (incremental) SET and DELETE.
func deleteRecordsAlterConfigs(ctx context.Context, boot, _ string) error {
	adm, cl, err := adminClient(boot)
	if err != nil {
		return err
	}
	defer cl.Close()
	topic := uniqueTopic("kadm-delrec")
	mmb := "2000000"
	if cr, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"max.message.bytes": &mmb}, topic); err != nil || cr.Err != nil {
		return fmt.Errorf("CreateTopic: %v %v", err, cr.Err)
	}
	recs := recordsFor([]int32{0}, 7, "delrec", true)
	if err := produce(ctx, boot, topic, recs); err != nil {
		return err
	}
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: 3})
	drs, err := adm.DeleteRecords(ctx, offs)
	if err != nil {
		return fmt.Errorf("DeleteRecords: %w", err)
	}
	dr, ok := drs.Lookup(topic, 0)
	if !ok || dr.Err != nil || dr.LowWatermark != 3 {
		return fmt.Errorf("DeleteRecords: %+v (found %v), want low watermark 3", dr, ok)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("ListStartOffsets: %w", err)
	}
	if so, _ := starts.Lookup(topic, 0); so.Err != nil || so.Offset != 3 {
		return fmt.Errorf("ListStartOffsets after DeleteRecords: %d (%v), want 3", so.Offset, so.Err)
	}
	got, err := consume(ctx, boot, topic, 0, 3, 4)
	if err != nil {
		return err
	}
	if err := compare(0, recs[0][3:], got, 3); err != nil {
		return err
	}
	ret := "86400000"
	ars, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: &ret},
		{Op: kadm.DeleteConfig, Name: "max.message.bytes"},
	}, topic)
	if err != nil {
		return fmt.Errorf("AlterTopicConfigs: %w", err)
	}
	if ar, err := ars.On(topic, nil); err != nil || ar.Err != nil {
		return fmt.Errorf("AlterTopicConfigs: %v %v", err, ar.Err)
	}
	// Kafka answers AlterConfigs once the controller has the change; the broker that serves
	// DescribeConfigs applies it a moment later. Re-read (bounded, 15 s) until it shows.
	for wait := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		rcs, err := adm.DescribeTopicConfigs(ctx, topic)
		if err != nil {
			return fmt.Errorf("DescribeTopicConfigs: %w", err)
		}
		rc, err := rcs.On(topic, nil)
		if err != nil || rc.Err != nil {
			return fmt.Errorf("DescribeTopicConfigs: %v %v", err, rc.Err)
		}
		vals := map[string]string{}
		for _, c := range rc.Configs {
			vals[c.Key] = c.MaybeValue()
		}
		if vals["retention.ms"] == ret && vals["max.message.bytes"] == "1048588" {
			break
		}
		if time.Now().After(wait) {
			return fmt.Errorf("after alter (re-read for 15 s): retention.ms=%q (want %s) max.message.bytes=%q (want the default 1048588)", vals["retention.ms"], ret, vals["max.message.bytes"])
		}
	}
	if _, err := adm.DeleteTopics(ctx, topic); err != nil {
		return fmt.Errorf("DeleteTopics: %w", err)
	}
	return nil
}

// ---- cross-client JSON: {"topic": T, "partitions": {"P": [{key, value: base64|null, headers: [[k, base64]], ts}]}}

type jrec struct {
	Key     *string     `json:"key"`
	Value   *string     `json:"value"`
	Headers [][2]string `json:"headers"`
	TS      int64       `json:"ts"`
}

type jdoc struct {
	Topic      string            `json:"topic"`
	Partitions map[string][]jrec `json:"partitions"`
}

func enc(b []byte) *string {
	if b == nil {
		return nil
	}
	s := base64.StdEncoding.EncodeToString(b)
	return &s
}

func dec(s *string) ([]byte, error) {
	if s == nil {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(*s)
	if b == nil {
		b = []byte{}
	}
	return b, err
}

func writeJSON(file, topic string, recs map[int32][]rec) error {
	d := jdoc{Topic: topic, Partitions: map[string][]jrec{}}
	for p, rs := range recs {
		for _, r := range rs {
			hs := [][2]string{}
			for _, h := range r.Headers {
				hs = append(hs, [2]string{h.Key, base64.StdEncoding.EncodeToString(h.Value)})
			}
			d.Partitions[strconv.Itoa(int(p))] = append(d.Partitions[strconv.Itoa(int(p))], jrec{enc(r.Key), enc(r.Value), hs, r.TS})
		}
	}
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return os.WriteFile(file, b, 0o644)
}

func verifyJSON(ctx context.Context, boot, file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var d jdoc
	if err := json.Unmarshal(b, &d); err != nil {
		return err
	}
	keys := make([]string, 0, len(d.Partitions))
	for k := range d.Partitions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	total := 0
	for _, k := range keys {
		p64, _ := strconv.Atoi(k)
		p := int32(p64)
		var want []rec
		for _, j := range d.Partitions[k] {
			r := rec{TS: j.TS}
			if r.Key, err = dec(j.Key); err != nil {
				return err
			}
			if r.Value, err = dec(j.Value); err != nil {
				return err
			}
			for _, h := range j.Headers {
				v, err := base64.StdEncoding.DecodeString(h[1])
				if err != nil {
					return err
				}
				r.Headers = append(r.Headers, kgo.RecordHeader{Key: h[0], Value: v})
			}
			want = append(want, r)
		}
		got, err := consume(ctx, boot, d.Topic, p, 0, len(want))
		if err != nil {
			return err
		}
		if err := compare(p, want, got, 0); err != nil {
			return err
		}
		total += len(want)
	}
	logf("franz-go: topic %s: %d records checked", d.Topic, total)
	return nil
}

var scenarios = map[string]func(context.Context, string, string) error{
	"kgo-produce-consume":               roundtrip,
	"kadm-admin":                        admin,
	"kgo-compression":                   compression,
	"kadm-delete-records-alter-configs": deleteRecordsAlterConfigs,
	"kgo-group-range":                   groupRange,
	"kgo-group-cooperative":             groupCooperative,
	"kgo-group-static":                  groupStatic,
	"kgo-txn-commit-abort":              txnCommitAbort,
	"kgo-txn-group-session":             txnGroupSession,
}

func versions() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "franz-go unknown"
	}
	v := map[string]string{}
	for _, d := range bi.Deps {
		v[d.Path] = d.Version
	}
	return fmt.Sprintf("franz-go %s (kadm %s, kmsg %s)", v["github.com/twmb/franz-go"], v["github.com/twmb/franz-go/pkg/kadm"], v["github.com/twmb/franz-go/pkg/kmsg"])
}

func main() {
	if len(os.Args) < 3 {
		logf("usage: compat BOOTSTRAP list|versions|verify-json FILE|SCENARIO [FILE]")
		os.Exit(2)
	}
	boot, what := os.Args[1], os.Args[2]
	arg := ""
	if len(os.Args) > 3 {
		arg = os.Args[3]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	var err error
	switch what {
	case "list":
		names := make([]string, 0, len(scenarios))
		for n := range scenarios {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Println(n)
		}
		return
	case "versions":
		fmt.Println(versions())
		return
	case "verify-json":
		err = verifyJSON(ctx, boot, arg)
	default:
		f, ok := scenarios[what]
		if !ok {
			err = errors.New("unknown scenario " + what)
		} else {
			err = f(ctx, boot, arg)
		}
	}
	if err != nil {
		logf("FAILED: %v", err)
		os.Exit(1)
	}
}
