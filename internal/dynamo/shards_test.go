package dynamo_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/example/gdpr/internal/dynamo"
)

// moto's stream has one shard that never closes. A real stream is a tree of shards that close
// and get trimmed, with empty portions; fakeStream plays that part of the Streams API so that
// the feed's walk of the tree is tested too.
type fakeStream struct {
	mu     sync.Mutex
	shards []*fakeShard // in the order DescribeStream lists them, one per page
}

type fakeShard struct {
	id, parent string
	closed     bool
	// entries are sequence numbers; "" is an empty portion of the shard.
	entries []string
	// trimmed entries are gone from the start of the shard.
	trimmed int
}

func (s *fakeStream) shard(id string) *fakeShard {
	for _, sh := range s.shards {
		if sh.id == id {
			return sh
		}
	}
	panic("no shard " + id)
}

func (s *fakeStream) DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error) {
	return &dynamodb.DescribeTableOutput{Table: &dbtypes.TableDescription{LatestStreamArn: aws.String("arn:fake")}}, nil
}

func (s *fakeStream) DescribeStream(_ context.Context, in *dynamodbstreams.DescribeStreamInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := 0
	if in.ExclusiveStartShardId != nil {
		for i < len(s.shards) && s.shards[i].id != *in.ExclusiveStartShardId {
			i++
		}
		i++
	}
	d := &types.StreamDescription{}
	if i < len(s.shards) {
		sh := s.shards[i]
		r := &types.SequenceNumberRange{StartingSequenceNumber: aws.String("0")}
		if sh.closed {
			r.EndingSequenceNumber = aws.String("9")
		}
		d.Shards = []types.Shard{{ShardId: aws.String(sh.id), ParentShardId: aws.String(sh.parent), SequenceNumberRange: r}}
		if sh.parent == "" {
			d.Shards[0].ParentShardId = nil
		}
		if i+1 < len(s.shards) {
			d.LastEvaluatedShardId = aws.String(sh.id)
		}
	}
	return &dynamodbstreams.DescribeStreamOutput{StreamDescription: d}, nil
}

func (s *fakeStream) GetShardIterator(_ context.Context, in *dynamodbstreams.GetShardIteratorInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.shard(*in.ShardId)
	at := sh.trimmed
	if in.ShardIteratorType == types.ShardIteratorTypeAfterSequenceNumber {
		at = -1
		for i, seq := range sh.entries {
			if seq == *in.SequenceNumber {
				at = i + 1
			}
		}
		if at <= sh.trimmed {
			return nil, &types.TrimmedDataAccessException{Message: aws.String("trimmed")}
		}
	}
	return &dynamodbstreams.GetShardIteratorOutput{ShardIterator: aws.String(fmt.Sprintf("%s/%d", sh.id, at))}, nil
}

func (s *fakeStream) GetRecords(_ context.Context, in *dynamodbstreams.GetRecordsInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, n, _ := strings.Cut(*in.ShardIterator, "/")
	sh := s.shard(id)
	at, _ := strconv.Atoi(n)
	out := &dynamodbstreams.GetRecordsOutput{}
	switch {
	case at < len(sh.entries) && sh.entries[at] == "":
		at++
	default:
		for at < len(sh.entries) && sh.entries[at] != "" && len(out.Records) < int(*in.Limit) {
			out.Records = append(out.Records, fakeRecord(sh.entries[at]))
			at++
		}
	}
	if !sh.closed || at < len(sh.entries) {
		out.NextShardIterator = aws.String(fmt.Sprintf("%s/%d", sh.id, at))
	}
	return out, nil
}

// fakeRecord inserts the item P|seq.
func fakeRecord(seq string) types.Record {
	keys := map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "P"},
		"sk": &types.AttributeValueMemberS{Value: seq},
	}
	image := map[string]types.AttributeValue{
		"pk": keys["pk"], "sk": keys["sk"],
		"v": &types.AttributeValueMemberN{Value: "1"},
	}
	return types.Record{
		EventName: types.OperationTypeInsert,
		Dynamodb: &types.StreamRecord{
			Keys: keys, NewImage: image, SequenceNumber: aws.String(seq),
			ApproximateCreationDateTime: aws.Time(time.Unix(1767225600, 0)),
		},
	}
}

// newTree is a closed parent shard whose partition split into two open children, listed
// children first: the feed must not rely on the listing order.
func newTree() *fakeStream {
	return &fakeStream{shards: []*fakeShard{
		{id: "child1", parent: "root", entries: []string{"3", "", "4"}},
		{id: "root", closed: true, entries: []string{"1", "", "2"}},
		{id: "child2", parent: "root", entries: []string{"5"}},
	}}
}

// read reads once and returns the sort keys (sequence numbers) read and the next position.
func read(t *testing.T, f *dynamo.Feed, after string, limit int) (string, string) {
	t.Helper()
	changes, next, err := f.Read(context.Background(), after, limit)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []string
	for _, c := range changes {
		seqs = append(seqs, c.Key.SK)
		if c.New == nil || c.New.Version != 1 || c.At.IsZero() {
			t.Fatalf("change %+v lacks its image or time", c)
		}
	}
	return strings.Join(seqs, ","), next
}

func TestFeedShards(t *testing.T) {
	t.Run("ParentFirst", func(t *testing.T) {
		s := newTree()
		f := dynamo.NewFeed(s, s, "t")
		got, pos := read(t, f, "", 100)
		if want := "1,2,3,4,5"; got != want {
			t.Fatalf("first read = %s, want %s", got, want)
		}
		if got, _ = read(t, f, pos, 100); got != "" {
			t.Fatalf("second read = %s, want nothing", got)
		}
	})

	t.Run("OneByOne", func(t *testing.T) {
		s := newTree()
		f := dynamo.NewFeed(s, s, "t")
		var all []string
		pos := ""
		for range 10 {
			var got string
			got, pos = read(t, f, pos, 1)
			if got != "" {
				all = append(all, got)
			}
		}
		if got, want := strings.Join(all, ","), "1,2,3,4,5"; got != want {
			t.Fatalf("reads = %s, want %s", got, want)
		}
	})

	t.Run("ParentTrimmed", func(t *testing.T) {
		s := newTree()
		f := dynamo.NewFeed(s, s, "t")
		_, pos := read(t, f, "", 100)
		// The parent leaves the stream after 24 hours; its children carry on.
		s.shards = []*fakeShard{s.shard("child1"), s.shard("child2")}
		s.shard("child2").entries = append(s.shard("child2").entries, "6")
		if got, _ := read(t, f, pos, 100); got != "6" {
			t.Fatalf("read = %s, want 6", got)
		}
		// A reader that never read the parent starts at the children.
		if got, _ := read(t, f, "", 100); got != "3,4,5,6" {
			t.Fatalf("read from the start = %s, want 3,4,5,6", got)
		}
	})

	t.Run("PositionTrimmed", func(t *testing.T) {
		s := newTree()
		f := dynamo.NewFeed(s, s, "t")
		_, pos := read(t, f, "", 100)
		// The record at the position is trimmed away: the reader goes on from the oldest
		// record kept.
		c2 := s.shard("child2")
		c2.entries, c2.trimmed = append(c2.entries, "6", "7"), 1
		if got, _ := read(t, f, pos, 100); got != "6,7" {
			t.Fatalf("read = %s, want 6,7", got)
		}
	})

	t.Run("LongGap", func(t *testing.T) {
		// Behind more empty pages than Read follows in an open shard, a record waits until
		// the shard closes.
		s := &fakeStream{shards: []*fakeShard{{id: "s", entries: []string{"1", "", "", "", "", "", "2"}}}}
		f := dynamo.NewFeed(s, s, "t")
		got, pos := read(t, f, "", 100)
		if got != "1" {
			t.Fatalf("read = %s, want 1", got)
		}
		if got, _ = read(t, f, pos, 100); got != "" {
			t.Fatalf("read = %s, want nothing yet", got)
		}
		s.shards[0].closed = true
		if got, _ = read(t, f, pos, 100); got != "2" {
			t.Fatalf("read of the closed shard = %s, want 2", got)
		}
	})
}
