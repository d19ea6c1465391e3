package dynamo

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/example/gdpr/internal/table"
)

// StreamsClient is the part of the DynamoDB Streams API a Feed uses; *dynamodbstreams.Client
// implements it.
type StreamsClient interface {
	DescribeStream(ctx context.Context, in *dynamodbstreams.DescribeStreamInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error)
	GetShardIterator(ctx context.Context, in *dynamodbstreams.GetShardIteratorInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *dynamodbstreams.GetRecordsInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error)
}

// TableDescriber finds a table's stream; *dynamodb.Client implements it.
type TableDescriber interface {
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// Feed is the change feed of a DynamoDB table, read from its latest stream.
//
// A stream is a tree of shards: a shard closes after some hours or when its partition splits,
// and its children carry on. Feed reads a shard only once its parent is read to the end, so
// the changes of one item come in order; changes of items in parallel shards interleave. A
// position records, for each shard of the stream, the last sequence number delivered or that
// the shard is finished.
type Feed struct {
	streams StreamsClient
	db      TableDescriber
	table   string

	mu  sync.Mutex
	arn string
}

// emptyPages is how many empty pages in a row an open shard may answer before a Read takes it
// as caught up. DynamoDB may answer empty pages for portions of a shard that hold no records
// before those that do; a gap longer than this delays the records behind it until the shard
// closes (within hours), when Read follows it to its end. Iterators are not kept from one Read
// to the next: moto swaps a table's stream for a copy when it rolls a transaction back, and an
// iterator kept across that would read the dropped copy.
const emptyPages = 4

var _ table.Feed = (*Feed)(nil)

// NewFeed returns the change feed of the DynamoDB table name.
func NewFeed(streams StreamsClient, db TableDescriber, name string) *Feed {
	return &Feed{streams: streams, db: db, table: name}
}

// position is where a reader is in the stream; it travels as opaque base64url JSON.
type position struct {
	// Last maps a shard being read to the sequence number of its last delivered record.
	Last map[string]string `json:"l,omitempty"`
	// Done holds the shards read to their end.
	Done map[string]bool `json:"d,omitempty"`
}

func decodePosition(s string) (position, error) {
	p := position{Last: map[string]string{}, Done: map[string]bool{}}
	if s == "" {
		return p, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return p, fmt.Errorf("dynamo: feed position: %w", table.ErrBadCursor)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("dynamo: feed position: %w", table.ErrBadCursor)
	}
	if _, err := dec.Token(); err != io.EOF {
		return p, fmt.Errorf("dynamo: feed position: %w", table.ErrBadCursor)
	}
	if p.Last == nil {
		p.Last = map[string]string{}
	}
	if p.Done == nil {
		p.Done = map[string]bool{}
	}
	return p, nil
}

func (p position) encode() string {
	if len(p.Last) == 0 && len(p.Done) == 0 {
		return ""
	}
	b, _ := json.Marshal(p) // maps of strings and bools always marshal
	return base64.RawURLEncoding.EncodeToString(b)
}

// Read delivers changes shard by shard until it has limit of them or every readable shard is
// read to its end or, when open, caught up.
func (f *Feed) Read(ctx context.Context, after string, limit int) ([]table.Change, string, error) {
	if limit <= 0 {
		return nil, after, fmt.Errorf("dynamo: feed read of %d changes", limit)
	}
	pos, err := decodePosition(after)
	if err != nil {
		return nil, after, err
	}
	arn, err := f.streamARN(ctx)
	if err != nil {
		return nil, after, err
	}
	shards, err := f.shards(ctx, arn)
	if err != nil {
		return nil, after, err
	}
	listed := make(map[string]bool, len(shards))
	for _, s := range shards {
		listed[aws.ToString(s.ShardId)] = true
	}
	// Shards past the stream's 24-hour retention are gone; so is any need to remember them.
	for id := range pos.Last {
		if !listed[id] {
			delete(pos.Last, id)
		}
	}
	for id := range pos.Done {
		if !listed[id] {
			delete(pos.Done, id)
		}
	}
	var changes []table.Change
	tried := map[string]bool{}
	for len(changes) < limit {
		next := -1
		for i, s := range shards {
			id, parent := aws.ToString(s.ShardId), aws.ToString(s.ParentShardId)
			if !pos.Done[id] && !tried[id] && (parent == "" || !listed[parent] || pos.Done[parent]) {
				next = i
				break
			}
		}
		if next < 0 {
			break
		}
		tried[aws.ToString(shards[next].ShardId)] = true
		got, err := f.readShard(ctx, arn, shards[next], &pos, limit-len(changes))
		if err != nil {
			// Changes read so far come again on the next call: delivery is at least once.
			return nil, after, err
		}
		changes = append(changes, got...)
	}
	return changes, pos.encode(), nil
}

func (f *Feed) streamARN(ctx context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.arn != "" {
		return f.arn, nil
	}
	out, err := f.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &f.table})
	if err != nil {
		return "", fmt.Errorf("dynamo: feed: describe table %s: %w", f.table, err)
	}
	if out.Table == nil || out.Table.LatestStreamArn == nil {
		return "", fmt.Errorf("dynamo: feed: table %s has no stream", f.table)
	}
	f.arn = *out.Table.LatestStreamArn
	return f.arn, nil
}

func (f *Feed) shards(ctx context.Context, arn string) ([]streamtypes.Shard, error) {
	in := &dynamodbstreams.DescribeStreamInput{StreamArn: &arn}
	var shards []streamtypes.Shard
	for {
		out, err := f.streams.DescribeStream(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("dynamo: feed: describe stream: %w", err)
		}
		if out.StreamDescription == nil {
			return shards, nil
		}
		shards = append(shards, out.StreamDescription.Shards...)
		if out.StreamDescription.LastEvaluatedShardId == nil {
			return shards, nil
		}
		in.ExclusiveStartShardId = out.StreamDescription.LastEvaluatedShardId
	}
}

// readShard delivers up to max changes of one shard after pos, advancing pos, and marks the
// shard done when its last record has been delivered.
func (f *Feed) readShard(ctx context.Context, arn string, s streamtypes.Shard, pos *position, max int) ([]table.Change, error) {
	id := aws.ToString(s.ShardId)
	iter, err := f.iterator(ctx, arn, id, pos.Last[id])
	if err != nil {
		return nil, err
	}
	closed := s.SequenceNumberRange != nil && s.SequenceNumberRange.EndingSequenceNumber != nil
	var changes []table.Change
	for empty := 0; iter != nil && len(changes) < max && (closed || empty < emptyPages); {
		out, err := f.streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{
			ShardIterator: iter,
			Limit:         aws.Int32(int32(min(max-len(changes), 1000))),
		})
		if err != nil {
			return nil, fmt.Errorf("dynamo: feed: get records of %s: %w", id, err)
		}
		for _, r := range out.Records {
			c, err := change(r)
			if err != nil {
				return nil, err
			}
			pos.Last[id] = aws.ToString(r.Dynamodb.SequenceNumber)
			c.Seq = pos.encode()
			changes = append(changes, c)
		}
		iter = out.NextShardIterator
		if len(out.Records) == 0 {
			empty++
		} else {
			empty = 0
		}
	}
	if iter == nil {
		delete(pos.Last, id)
		pos.Done[id] = true
	}
	return changes, nil
}

// iterator starts after the sequence number seq, or at the oldest record when seq is "" or
// has been trimmed away.
func (f *Feed) iterator(ctx context.Context, arn, shard, seq string) (*string, error) {
	in := &dynamodbstreams.GetShardIteratorInput{
		StreamArn:         &arn,
		ShardId:           &shard,
		ShardIteratorType: streamtypes.ShardIteratorTypeTrimHorizon,
	}
	if seq != "" {
		in.ShardIteratorType = streamtypes.ShardIteratorTypeAfterSequenceNumber
		in.SequenceNumber = &seq
	}
	out, err := f.streams.GetShardIterator(ctx, in)
	var trimmed *streamtypes.TrimmedDataAccessException
	if errors.As(err, &trimmed) {
		in.ShardIteratorType, in.SequenceNumber = streamtypes.ShardIteratorTypeTrimHorizon, nil
		out, err = f.streams.GetShardIterator(ctx, in)
	}
	if err != nil {
		return nil, fmt.Errorf("dynamo: feed: shard iterator of %s: %w", shard, err)
	}
	return out.ShardIterator, nil
}

func change(r streamtypes.Record) (table.Change, error) {
	d := r.Dynamodb
	if d == nil {
		return table.Change{}, errors.New("dynamo: feed: record without stream data")
	}
	c := table.Change{Event: string(r.EventName), At: aws.ToTime(d.ApproximateCreationDateTime)}
	keys, err := attributevalue.FromDynamoDBStreamsMap(d.Keys)
	if err != nil {
		return table.Change{}, fmt.Errorf("dynamo: feed: keys: %w", err)
	}
	// The keys alone read as an item with no data.
	k, err := ItemFromAttributes(keys)
	if err != nil {
		return table.Change{}, err
	}
	c.Key = k.Key
	if d.OldImage != nil {
		old, err := image(d.OldImage)
		if err != nil {
			return table.Change{}, err
		}
		c.Old = &old
	}
	if d.NewImage != nil {
		newer, err := image(d.NewImage)
		if err != nil {
			return table.Change{}, err
		}
		c.New = &newer
	}
	return c, nil
}

// image converts a stream image with the same code that reads items from the table.
func image(av map[string]streamtypes.AttributeValue) (table.Item, error) {
	m, err := attributevalue.FromDynamoDBStreamsMap(av)
	if err != nil {
		return table.Item{}, fmt.Errorf("dynamo: feed: image: %w", err)
	}
	return ItemFromAttributes(m)
}
