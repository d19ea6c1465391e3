package gdprd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/gdpr/internal/atomicfile"
	"github.com/example/gdpr/internal/samtemplate"
	"github.com/example/gdpr/internal/streamimage"
	"github.com/example/gdpr/internal/table"
)

// Delivery bounds of the local event source mapping. Lambda retries a failing stream batch
// until the records expire (24 h) unless MaximumRetryAttempts says less; locally a poison
// record must not stall its function for a day, so retries stop at maxLocalRetries.
const (
	maxLocalRetries = 5
	retryBase       = 200 * time.Millisecond
	retryMax        = 5 * time.Second
	// maxReadBatch is the most records one GetRecords call returns, and the most the
	// embedded feed reads at once.
	maxReadBatch = 1000
)

// consumer is the local event source mapping of one stream trigger: it reads the table's
// change feed from its own position and invokes the function with DynamoDBEvent batches,
// at least once, in order, as Lambda does.
type consumer struct {
	trigger samtemplate.StreamTrigger
	fn      *function
	feed    table.Feed
	filters []filter
	view    string // the table's StreamViewType
	region  string
	arn     string // the stream's ARN, as records name it
	posFile string
	log     *slog.Logger
	retries int
	backoff time.Duration // before the first retry; doubles up to retryMax

	mu  sync.Mutex
	pos string

	// The record at the head of the retries, and how often it failed.
	failedSeq string
	failures  int
}

func newConsumer(t samtemplate.StreamTrigger, fn *function, feed table.Feed, view, region, arn, posDir string, log *slog.Logger) (*consumer, error) {
	c := &consumer{
		trigger: t,
		fn:      fn,
		feed:    feed,
		view:    view,
		region:  region,
		arn:     arn,
		posFile: filepath.Join(posDir, t.Function+"."+t.Name+".pos"),
		log:     log.With(slog.String("function", t.Function), slog.String("trigger", t.Name)),
		retries: t.MaxRetries,
		backoff: retryBase,
	}
	if c.retries < 0 || c.retries > maxLocalRetries {
		c.retries = maxLocalRetries
	}
	for _, p := range t.FilterPatterns {
		f, err := compileFilter(p)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", t.Function, t.Name, err)
		}
		c.filters = append(c.filters, f)
	}
	return c, nil
}

// start loads the saved position. A trigger that never ran starts at the oldest change kept,
// or, with StartingPosition LATEST, after the newest.
func (c *consumer) start(ctx context.Context) error {
	b, err := os.ReadFile(c.posFile)
	switch {
	case err == nil:
		c.pos = strings.TrimSpace(string(b))
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("feed position: %w", err)
	case c.trigger.StartingPosition != "LATEST":
		return nil
	}
	pos := ""
	for {
		changes, next, err := c.feed.Read(ctx, pos, maxReadBatch)
		if err != nil {
			return fmt.Errorf("feed: %w", err)
		}
		pos = next
		if len(changes) == 0 {
			return c.save(pos)
		}
	}
}

func (c *consumer) position() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pos
}

// save records the position after the changes the function is done with, so that a restart
// goes on from there instead of delivering everything again.
func (c *consumer) save(pos string) error {
	c.mu.Lock()
	c.pos = pos
	c.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(c.posFile), 0o700); err != nil {
		return err
	}
	return atomicfile.WriteBytes(c.posFile, []byte(pos+"\n"))
}

// outcome of one step of a consumer.
type outcome int

const (
	caughtUp   outcome = iota // nothing new: wait for a nudge or the next poll
	progressed                // a batch is done: go on at once
	failed                    // a batch failed: retry after the backoff
)

// step reads one batch after the position and delivers it.
func (c *consumer) step(ctx context.Context) outcome {
	pos := c.position()
	changes, next, err := c.feed.Read(ctx, pos, min(c.trigger.BatchSize, maxReadBatch))
	if errors.Is(err, table.ErrBadCursor) {
		// A position of another engine or a damaged file: start over, at least once.
		c.log.Error("feed position not readable; reading from the oldest change", slog.String("error", err.Error()))
		c.persist("")
		return progressed
	}
	if err != nil {
		c.log.Error("feed read failed", slog.String("error", err.Error()))
		return failed
	}
	if len(changes) == 0 {
		if next != pos {
			c.persist(next)
		}
		return caughtUp
	}
	records := make([]events.DynamoDBEventRecord, 0, len(changes))
	at := make([]int, 0, len(changes)) // at[i] is the index in changes of records[i]
	for i, ch := range changes {
		rec, err := c.record(ch)
		if err != nil {
			// An item the stream cannot show; the table port never writes one.
			c.log.Error("change not deliverable; skipped", slog.String("seq", ch.Seq), slog.String("error", err.Error()))
			continue
		}
		ok, err := c.matches(rec)
		if err != nil {
			c.log.Error("change not deliverable; skipped", slog.String("seq", ch.Seq), slog.String("error", err.Error()))
			continue
		}
		if ok {
			records = append(records, rec)
			at = append(at, i)
		}
	}
	if len(records) == 0 {
		c.persist(next)
		return progressed
	}
	failedAt, whole := c.deliver(ctx, records)
	if failedAt < 0 {
		c.failedSeq, c.failures = "", 0
		c.persist(next)
		return progressed
	}
	// Everything before the failed record is done; the retry starts at it, as Lambda's
	// checkpoint does with ReportBatchItemFailures.
	ci := at[failedAt]
	if ci > 0 {
		c.persist(changes[ci-1].Seq)
	}
	head := changes[ci].Seq
	if c.failedSeq != head {
		c.failedSeq, c.failures = head, 0
	}
	c.failures++
	if c.failures <= c.retries {
		return failed
	}
	// Retries exhausted. Like a mapping without a failure destination, drop what failed:
	// with bisection or item failures that is the failed record alone, otherwise the batch.
	dropped, through := records[failedAt:failedAt+1], head
	if whole && !c.trigger.BisectOnError {
		dropped, through = records[failedAt:], next
	}
	ids := make([]string, len(dropped))
	for i, r := range dropped {
		ids[i] = r.EventID + "@" + r.Change.SequenceNumber
	}
	c.log.Error("stream records dropped after retries", slog.Int("attempts", c.failures), slog.Any("records", ids))
	c.failedSeq, c.failures = "", 0
	c.persist(through)
	return progressed
}

func (c *consumer) persist(pos string) {
	if err := c.save(pos); err != nil {
		// The position in memory moved on; after a restart the batch comes again.
		c.log.Error("feed position not saved", slog.String("error", err.Error()))
	}
}

// deliver invokes the function with the batch. It returns the index of the first record to
// retry, or -1 when all are done, and whether the whole batch failed.
func (c *consumer) deliver(ctx context.Context, records []events.DynamoDBEventRecord) (int, bool) {
	var resp events.DynamoDBEventResponse
	err := c.fn.call(ctx, events.DynamoDBEvent{Records: records}, &resp)
	if err != nil {
		c.log.Error("stream batch failed", slog.Int("records", len(records)), slog.String("error", err.Error()))
		return 0, true
	}
	if !c.trigger.ReportItemFailures || len(resp.BatchItemFailures) == 0 {
		return -1, false
	}
	first := len(records)
	for _, f := range resp.BatchItemFailures {
		i := indexOfSeq(records, f.ItemIdentifier)
		if i < 0 {
			// Lambda treats an empty or unknown identifier as a failure of the whole batch.
			c.log.Error("stream batch answer names no record of the batch", slog.Int("records", len(records)))
			return 0, true
		}
		first = min(first, i)
	}
	c.log.Warn("stream records failed", slog.Int("records", len(records)), slog.Int("failed", len(resp.BatchItemFailures)))
	return first, false
}

func indexOfSeq(records []events.DynamoDBEventRecord, seq string) int {
	if seq == "" {
		return -1
	}
	for i, r := range records {
		if r.Change.SequenceNumber == seq {
			return i
		}
	}
	return -1
}

// record is the DynamoDB stream record of one change.
func (c *consumer) record(ch table.Change) (events.DynamoDBEventRecord, error) {
	sum := sha256.Sum256([]byte(c.arn + "\x00" + ch.Seq))
	rec := events.DynamoDBEventRecord{
		AWSRegion:      c.region,
		EventID:        hex.EncodeToString(sum[:16]),
		EventName:      ch.Event,
		EventSource:    "aws:dynamodb",
		EventVersion:   "1.1",
		EventSourceArn: c.arn,
		Change: events.DynamoDBStreamRecord{
			ApproximateCreationDateTime: events.SecondsEpochTime{Time: ch.At.Truncate(time.Second)},
			Keys:                        streamimage.Keys(ch.Key),
			SequenceNumber:              ch.Seq,
			StreamViewType:              c.view,
		},
	}
	var err error
	if ch.New != nil && (c.view == "NEW_IMAGE" || c.view == "NEW_AND_OLD_IMAGES") {
		if rec.Change.NewImage, err = streamimage.Image(*ch.New); err != nil {
			return rec, err
		}
	}
	if ch.Old != nil && (c.view == "OLD_IMAGE" || c.view == "NEW_AND_OLD_IMAGES") {
		if rec.Change.OldImage, err = streamimage.Image(*ch.Old); err != nil {
			return rec, err
		}
	}
	b, err := json.Marshal(rec.Change)
	if err != nil {
		return rec, err
	}
	rec.Change.SizeBytes = int64(len(b))
	return rec, nil
}

// matches applies the trigger's filters to the record's JSON form, as Lambda does.
func (c *consumer) matches(rec events.DynamoDBEventRecord) (bool, error) {
	if len(c.filters) == 0 {
		return true, nil
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return false, err
	}
	v, err := decodeJSON(b)
	if err != nil {
		return false, err
	}
	obj, _ := v.(map[string]any)
	for _, f := range c.filters {
		if f.match(obj) {
			return true, nil
		}
	}
	return false, nil
}

// run delivers until stop closes, polling every poll and at each nudge. A batch in flight
// finishes before run returns.
func (c *consumer) run(ctx context.Context, stop <-chan struct{}, nudge <-chan struct{}, poll time.Duration) {
	tick := time.NewTicker(poll)
	defer tick.Stop()
	wait := c.backoff
	for {
		select {
		case <-stop:
			return
		default:
		}
		switch c.step(ctx) {
		case progressed:
			wait = c.backoff
			continue
		case failed:
			t := time.NewTimer(wait)
			select {
			case <-stop:
				t.Stop()
				return
			case <-t.C:
			}
			wait = min(2*wait, retryMax)
			continue
		}
		wait = c.backoff
		select {
		case <-stop:
			return
		case <-tick.C:
		case <-nudge:
		}
	}
}
