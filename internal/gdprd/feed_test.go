package gdprd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/gdpr/internal/samtemplate"
	"github.com/example/gdpr/internal/streamimage"
	"github.com/example/gdpr/internal/table"
)

// memFeed is a change feed whose positions are change numbers, like the embedded one.
type memFeed struct {
	mu      sync.Mutex
	changes []table.Change
}

func (f *memFeed) add(event string, key table.Key, old, newer string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	seq := strconv.Itoa(len(f.changes) + 1)
	c := table.Change{Seq: seq, Event: event, Key: key, At: time.Unix(1_800_000_000, 0)}
	if old != "" {
		c.Old = &table.Item{Key: key, Version: 1, Data: json.RawMessage(old)}
	}
	if newer != "" {
		c.New = &table.Item{Key: key, Version: 2, Data: json.RawMessage(newer)}
	}
	f.changes = append(f.changes, c)
}

func (f *memFeed) Read(_ context.Context, after string, limit int) ([]table.Change, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	from := 0
	if after != "" {
		n, err := strconv.Atoi(after)
		if err != nil {
			return nil, after, table.ErrBadCursor
		}
		from = n
	}
	end := min(from+limit, len(f.changes))
	if from >= end {
		return nil, after, nil
	}
	got := slices.Clone(f.changes[from:end])
	return got, got[len(got)-1].Seq, nil
}

// recorder is a stream function that records what it gets and fails as told.
type recorder struct {
	mu      sync.Mutex
	batches [][]string // sequence numbers of each batch
	records []events.DynamoDBEventRecord
	// fail decides, per batch, which sequence numbers to report and whether to fail it all.
	fail func(call int, seqs []string) (failed []string, err error)
}

func (r *recorder) handle(_ context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var seqs []string
	for _, rec := range ev.Records {
		seqs = append(seqs, rec.Change.SequenceNumber)
	}
	r.batches = append(r.batches, seqs)
	r.records = append(r.records, ev.Records...)
	var resp events.DynamoDBEventResponse
	if r.fail == nil {
		return resp, nil
	}
	failed, err := r.fail(len(r.batches), seqs)
	if err != nil {
		return resp, err
	}
	for _, s := range failed {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: s})
	}
	return resp, nil
}

func (r *recorder) delivered() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.batches)
}

func testConsumer(t *testing.T, trig samtemplate.StreamTrigger, feed table.Feed, rec *recorder, dir string) *consumer {
	t.Helper()
	if trig.Function == "" {
		trig.Function, trig.Name = "TestFunction", "Changes"
	}
	if trig.BatchSize == 0 {
		trig.BatchSize = 100
	}
	fn := newFunction(trig.Function, KindStream, time.Second, rec.handle, "us-east-1")
	c, err := newConsumer(trig, fn, feed, "NEW_AND_OLD_IMAGES", "us-east-1", "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/local", dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return c
}

// drain steps until the consumer is caught up, counting failed steps.
func drain(t *testing.T, c *consumer) (failures int) {
	t.Helper()
	for range 1000 {
		switch c.step(context.Background()) {
		case caughtUp:
			return failures
		case failed:
			failures++
		}
	}
	t.Fatal("consumer never caught up")
	return 0
}

func requestKey(id string) table.Key { return table.Key{PK: "T#demo#R#" + id, SK: "REQUEST"} }

func fiveInserts() *memFeed {
	f := &memFeed{}
	for i := 1; i <= 5; i++ {
		f.add(table.EventInsert, requestKey(fmt.Sprint(i)), "", `{"status":"pending_verification"}`)
	}
	return f
}

func TestConsumer(t *testing.T) {
	t.Run("BatchesInOrderAndPersists", func(t *testing.T) {
		dir, feed, rec := t.TempDir(), fiveInserts(), &recorder{}
		c := testConsumer(t, samtemplate.StreamTrigger{BatchSize: 2}, feed, rec, dir)
		if got := drain(t, c); got != 0 {
			t.Fatalf("%d failed steps", got)
		}
		if got, want := fmt.Sprint(rec.delivered()), "[[1 2] [3 4] [5]]"; got != want {
			t.Fatalf("batches = %s, want %s", got, want)
		}
		b, err := os.ReadFile(filepath.Join(dir, "TestFunction.Changes.pos"))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(b), "5\n"; got != want {
			t.Fatalf("position file = %q, want %q", got, want)
		}

		// A restart goes on from the saved position.
		feed.add(table.EventRemove, requestKey("1"), `{"status":"pending_verification"}`, "")
		again := &recorder{}
		c2 := testConsumer(t, samtemplate.StreamTrigger{BatchSize: 2}, feed, again, dir)
		drain(t, c2)
		if got, want := fmt.Sprint(again.delivered()), "[[6]]"; got != want {
			t.Fatalf("after restart, batches = %s, want %s", got, want)
		}
	})

	t.Run("Record", func(t *testing.T) {
		feed, rec := &memFeed{}, &recorder{}
		feed.add(table.EventModify, requestKey("r1"), `{"status":"pending_verification"}`, `{"status":"verified","n":3}`)
		drain(t, testConsumer(t, samtemplate.StreamTrigger{}, feed, rec, t.TempDir()))
		if len(rec.records) != 1 {
			t.Fatalf("%d records, want 1", len(rec.records))
		}
		r := rec.records[0]
		for _, c := range []struct{ name, got, want string }{
			{"eventName", r.EventName, "MODIFY"},
			{"eventSource", r.EventSource, "aws:dynamodb"},
			{"awsRegion", r.AWSRegion, "us-east-1"},
			{"eventSourceARN", r.EventSourceArn, "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/local"},
			{"streamViewType", r.Change.StreamViewType, "NEW_AND_OLD_IMAGES"},
			{"sequenceNumber", r.Change.SequenceNumber, "1"},
			{"pk", r.Change.Keys["pk"].String(), "T#demo#R#r1"},
		} {
			if c.got != c.want {
				t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
			}
		}
		if r.EventID == "" {
			t.Error("empty eventID")
		}
		if got, want := r.Change.ApproximateCreationDateTime.Unix(), int64(1_800_000_000); got != want {
			t.Errorf("approximateCreationDateTime = %d, want %d", got, want)
		}
		c, err := streamimage.Change(r)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(c.New.Data), `{"n":3,"status":"verified"}`; got != want {
			t.Errorf("new image reads back as %s, want %s", got, want)
		}
		if got, want := c.Old.Version, int64(1); got != want {
			t.Errorf("old version = %d, want %d", got, want)
		}
	})

	t.Run("Filter", func(t *testing.T) {
		feed, rec := &memFeed{}, &recorder{}
		feed.add(table.EventInsert, requestKey("a"), "", `{"status":"pending_verification"}`)
		feed.add(table.EventModify, requestKey("a"), `{"status":"pending_verification"}`, `{"status":"verified"}`)
		feed.add(table.EventModify, requestKey("a"), `{"status":"verified"}`, `{"status":"completed"}`)
		feed.add(table.EventInsert, table.Key{PK: "T#demo#S#u", SK: "PROFILE"}, "", `{"status":"verified"}`)
		trig := samtemplate.StreamTrigger{FilterPatterns: []string{
			`{"eventName":["MODIFY"],"dynamodb":{"NewImage":{"status":{"S":["verified"]}}}}`,
			`{"dynamodb":{"Keys":{"sk":{"S":["PROFILE"]}}}}`,
		}}
		c := testConsumer(t, trig, feed, rec, t.TempDir())
		drain(t, c)
		if got, want := fmt.Sprint(rec.delivered()), "[[2 4]]"; got != want {
			t.Fatalf("batches = %s, want %s", got, want)
		}
		if got, want := c.position(), "4"; got != want {
			t.Fatalf("position = %q, want %q", got, want)
		}
	})

	t.Run("NothingMatches", func(t *testing.T) {
		feed, rec := fiveInserts(), &recorder{}
		c := testConsumer(t, samtemplate.StreamTrigger{FilterPatterns: []string{`{"eventName":["REMOVE"]}`}}, feed, rec, t.TempDir())
		drain(t, c)
		if got := rec.delivered(); len(got) != 0 {
			t.Fatalf("batches = %v, want none", got)
		}
		if got, want := c.position(), "5"; got != want {
			t.Fatalf("position = %q, want %q (filtered records count as processed)", got, want)
		}
	})

	t.Run("ItemFailureRetriesFromFailedRecord", func(t *testing.T) {
		feed := fiveInserts()
		rec := &recorder{fail: func(call int, seqs []string) ([]string, error) {
			if call == 1 {
				return []string{"4", "3"}, nil
			}
			return nil, nil
		}}
		c := testConsumer(t, samtemplate.StreamTrigger{ReportItemFailures: true, MaxRetries: -1}, feed, rec, t.TempDir())
		c.backoff = 0
		if got, want := drain(t, c), 1; got != want {
			t.Fatalf("%d failed steps, want %d", got, want)
		}
		if got, want := fmt.Sprint(rec.delivered()), "[[1 2 3 4 5] [3 4 5]]"; got != want {
			t.Fatalf("batches = %s, want %s", got, want)
		}
	})

	t.Run("ItemFailuresIgnoredWithoutReportItemFailures", func(t *testing.T) {
		feed := fiveInserts()
		rec := &recorder{fail: func(int, []string) ([]string, error) { return []string{"3"}, nil }}
		c := testConsumer(t, samtemplate.StreamTrigger{}, feed, rec, t.TempDir())
		if got, want := drain(t, c), 0; got != want {
			t.Fatalf("%d failed steps, want %d", got, want)
		}
	})

	t.Run("PoisonRecordDroppedAfterRetries", func(t *testing.T) {
		feed := fiveInserts()
		rec := &recorder{fail: func(_ int, seqs []string) ([]string, error) {
			if slices.Contains(seqs, "2") {
				return []string{"2"}, nil
			}
			return nil, nil
		}}
		c := testConsumer(t, samtemplate.StreamTrigger{ReportItemFailures: true, MaxRetries: 2}, feed, rec, t.TempDir())
		c.backoff = 0
		if got, want := drain(t, c), 2; got != want {
			t.Fatalf("%d failed steps, want %d (the retries)", got, want)
		}
		// One first try and two retries of 2..5, then 2 alone is dropped and 3..5 go on.
		if got, want := fmt.Sprint(rec.delivered()), "[[1 2 3 4 5] [2 3 4 5] [2 3 4 5] [3 4 5]]"; got != want {
			t.Fatalf("batches = %s, want %s", got, want)
		}
		if got, want := c.position(), "5"; got != want {
			t.Fatalf("position = %q, want %q", got, want)
		}
	})

	t.Run("FunctionErrorDropsBatchAfterRetries", func(t *testing.T) {
		feed := fiveInserts()
		rec := &recorder{fail: func(int, []string) ([]string, error) { return nil, errors.New("boom") }}
		c := testConsumer(t, samtemplate.StreamTrigger{BatchSize: 3, MaxRetries: 1}, feed, rec, t.TempDir())
		c.backoff = 0
		drain(t, c)
		if got, want := fmt.Sprint(rec.delivered()), "[[1 2 3] [1 2 3] [4 5] [4 5]]"; got != want {
			t.Fatalf("batches = %s, want %s", got, want)
		}
	})

	t.Run("FunctionErrorWithBisectDropsOneRecord", func(t *testing.T) {
		feed := fiveInserts()
		rec := &recorder{fail: func(_ int, seqs []string) ([]string, error) {
			if seqs[0] == "1" {
				return nil, errors.New("boom")
			}
			return nil, nil
		}}
		c := testConsumer(t, samtemplate.StreamTrigger{BatchSize: 3, MaxRetries: 0, BisectOnError: true}, feed, rec, t.TempDir())
		c.backoff = 0
		drain(t, c)
		if got, want := fmt.Sprint(rec.delivered()), "[[1 2 3] [2 3 4] [5]]"; got != want {
			t.Fatalf("batches = %s, want %s", got, want)
		}
	})

	t.Run("UnknownIdentifierFailsWholeBatch", func(t *testing.T) {
		feed := fiveInserts()
		rec := &recorder{fail: func(call int, _ []string) ([]string, error) {
			if call == 1 {
				return []string{"99"}, nil
			}
			return nil, nil
		}}
		c := testConsumer(t, samtemplate.StreamTrigger{ReportItemFailures: true, MaxRetries: -1}, feed, rec, t.TempDir())
		c.backoff = 0
		drain(t, c)
		if got, want := fmt.Sprint(rec.delivered()), "[[1 2 3 4 5] [1 2 3 4 5]]"; got != want {
			t.Fatalf("batches = %s, want %s", got, want)
		}
	})

	t.Run("Latest", func(t *testing.T) {
		feed, rec := fiveInserts(), &recorder{}
		c := testConsumer(t, samtemplate.StreamTrigger{StartingPosition: "LATEST"}, feed, rec, t.TempDir())
		feed.add(table.EventRemove, requestKey("1"), `{"status":"x"}`, "")
		drain(t, c)
		if got, want := fmt.Sprint(rec.delivered()), "[[6]]"; got != want {
			t.Fatalf("batches = %s, want %s", got, want)
		}
	})

	t.Run("BadPositionStartsOver", func(t *testing.T) {
		dir, feed, rec := t.TempDir(), fiveInserts(), &recorder{}
		if err := os.WriteFile(filepath.Join(dir, "TestFunction.Changes.pos"), []byte("not-a-position\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		drain(t, testConsumer(t, samtemplate.StreamTrigger{}, feed, rec, dir))
		if got, want := fmt.Sprint(rec.delivered()), "[[1 2 3 4 5]]"; got != want {
			t.Fatalf("batches = %s, want %s", got, want)
		}
	})

	t.Run("Run", func(t *testing.T) {
		feed, rec := fiveInserts(), &recorder{}
		c := testConsumer(t, samtemplate.StreamTrigger{}, feed, rec, t.TempDir())
		stop, nudge := make(chan struct{}), make(chan struct{}, 1)
		done := make(chan struct{})
		go func() { c.run(context.Background(), stop, nudge, time.Hour); close(done) }()
		waitPosition(t, c, "5")
		// The poll is an hour away: only the nudge can bring the next change.
		feed.add(table.EventRemove, requestKey("1"), `{"status":"x"}`, "")
		nudge <- struct{}{}
		waitPosition(t, c, "6")
		close(stop)
		select {
		case <-done:
		case <-time.After(waitCap):
			t.Fatal("run did not stop")
		}
	})
}

// waitCap bounds the waits of the feed tests on a condition: generous, because a loaded
// machine may take seconds, and a passing test waits only as long as the condition takes.
const waitCap = time.Minute

func waitPosition(t *testing.T, c *consumer, want string) {
	t.Helper()
	deadline := time.Now().Add(waitCap)
	for c.position() != want {
		if time.Now().After(deadline) {
			t.Fatalf("position = %q, want %q", c.position(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
