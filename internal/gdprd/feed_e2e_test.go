package gdprd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/gdpr/internal/gdprd"
	"github.com/example/gdpr/internal/home"
	"github.com/example/gdpr/internal/httpapi"
	"github.com/example/gdpr/internal/lambdamain"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/sqlite/sqlitetest"
	"github.com/example/gdpr/internal/streamimage"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/tenant"
)

// testTemplate has one route that writes, one stream trigger that reads what it wrote and
// one schedule: the three kinds of trigger, apart from the service's own functions.
const testTemplate = `
Transform: AWS::Serverless-2016-10-31
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: sk, AttributeType: S}
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
        - {AttributeName: sk, KeyType: RANGE}
      StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
      TimeToLiveSpecification: {AttributeName: ttl, Enabled: true}
  Api:
    Type: AWS::Serverless::HttpApi
  WriteFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Write:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: POST, Path: "/test/items/{id}"}
  StreamFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Changes:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Table.StreamArn
            StartingPosition: TRIM_HORIZON
            BatchSize: 10
            MaximumRetryAttempts: 3
            FunctionResponseTypes: [ReportBatchItemFailures]
            FilterCriteria:
              Filters:
                - Pattern: '{"dynamodb":{"NewImage":{"status":{"S":["verified"]}}}}'
  JobFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Tick:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: rate(1 hour)
            Input: '{"job":"tick"}'
`

// streamSpy is StreamFunction: it records the items it gets and fails each record once.
type streamSpy struct {
	mu     sync.Mutex
	seen   map[string]int // by item key
	data   map[string]string
	failed map[string]bool
}

func (s *streamSpy) handle(_ context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var resp events.DynamoDBEventResponse
	for _, rec := range ev.Records {
		c, err := streamimage.Change(rec)
		if err != nil {
			return resp, err
		}
		id := c.Key.PK
		s.seen[id]++
		s.data[id] = string(c.New.Data)
		if !s.failed[id] {
			s.failed[id] = true
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: rec.Change.SequenceNumber})
		}
	}
	return resp, nil
}

func (s *streamSpy) count(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[id]
}

// testFunctions are the functions of testTemplate; StreamFunction is spy.
func testFunctions(spy *streamSpy) []gdprd.Function {
	return []gdprd.Function{
		gdprd.HTTP("WriteFunction", writeFunction),
		gdprd.Stream("StreamFunction", func(*ports.Ports) (lambdamain.StreamHandler, error) { return spy.handle, nil }),
		gdprd.Schedule("JobFunction", func(p *ports.Ports) (lambdamain.ScheduleHandler, error) {
			return func(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
				return json.Marshal(map[string]any{"input": in, "now": p.Clock.Now()})
			}, nil
		}),
	}
}

// writeFunction is WriteFunction: it stores {"status"} under TEST#{id}.
func writeFunction(p *ports.Ports) (*httpapi.API, error) {
	return httpapi.New(httpapi.Config{
		Table:   p.Table,
		Keys:    tenant.Store{Table: p.Table, Clock: p.Clock},
		Tenants: tenant.Store{Table: p.Table, Clock: p.Clock},
		Secrets: p.Secrets,
		Clock:   p.Clock,
		Log:     p.Log,
	}, httpapi.Route{Key: "POST /test/items/{id}", Access: httpapi.Site, Handle: func(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
		var in struct {
			Status string `json:"status"`
		}
		if err := r.Decode(&in); err != nil {
			return httpapi.Response{}, err
		}
		it, err := table.NewItem(table.Key{PK: "TEST#" + r.Path("id"), SK: "ITEM"}, 0, in)
		if err != nil {
			return httpapi.Response{}, err
		}
		if err := p.Table.Put(ctx, it, table.Cond{}); err != nil {
			return httpapi.Response{}, err
		}
		return httpapi.JSON(http.StatusCreated, in)
	}}), nil
}

func newSpy() *streamSpy {
	return &streamSpy{seen: map[string]int{}, data: map[string]string{}, failed: map[string]bool{}}
}

// waitCap bounds waitFor: generous, because a loaded machine may take seconds to deliver,
// and a test that passes waits only as long as the delivery takes.
const waitCap = time.Minute

// waitFor waits until cond holds, polling.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitCap)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTriggers(t *testing.T) {
	spy := newSpy()
	dir := t.TempDir()
	s := start(t, gdprd.Config{DataDir: dir, Template: []byte(testTemplate), Functions: testFunctions(spy)})
	key := credentials(t, dir).SiteKey

	t.Run("WriteNeedsKey", func(t *testing.T) {
		call(t, "POST", s.URL()+"/test/items/x", "", []byte(`{"status":"verified"}`)).problem(t, http.StatusUnauthorized)
	})

	t.Run("Feed", func(t *testing.T) {
		for id, status := range map[string]string{"a": "verified", "b": "pending", "c": "verified"} {
			if r := call(t, "POST", s.URL()+"/test/items/"+id, key, []byte(`{"status":"`+status+`"}`)); r.status != http.StatusCreated {
				t.Fatalf("write %s: %d %s", id, r.status, r.body)
			}
		}
		// A marker written after the three: the feed delivers in order, so once it is in,
		// the filtered-out record b has been passed over, not merely not yet delivered.
		if r := call(t, "POST", s.URL()+"/test/items/marker", key, []byte(`{"status":"verified"}`)); r.status != http.StatusCreated {
			t.Fatalf("write marker: %d %s", r.status, r.body)
		}
		// Each matching record fails once (item failure) and comes again.
		waitFor(t, "records a, c and the marker delivered twice", func() bool {
			return spy.count("TEST#a") >= 2 && spy.count("TEST#c") >= 2 && spy.count("TEST#marker") >= 2
		})
		if got := spy.count("TEST#b"); got != 0 {
			t.Fatalf("filtered-out record delivered %d times", got)
		}
		spy.mu.Lock()
		data := spy.data["TEST#a"]
		spy.mu.Unlock()
		if got, want := data, `{"status":"verified"}`; got != want {
			t.Fatalf("decoded new image = %s, want %s", got, want)
		}
	})

	t.Run("Job", func(t *testing.T) {
		call(t, "POST", s.URL()+"/_local/clock", "", []byte(`{"now":"2030-01-02T03:04:05Z"}`))
		defer call(t, "POST", s.URL()+"/_local/clock", "", []byte(`{"now":null}`))
		r := call(t, "POST", s.URL()+"/_local/jobs/tick", "", nil)
		if r.status != http.StatusOK {
			t.Fatalf("status = %d: %s", r.status, r.body)
		}
		var out struct {
			Input struct{ Job string }
			Now   time.Time
		}
		r.json(t, &out)
		if got, want := out.Input.Job, "tick"; got != want {
			t.Fatalf("job input = %q, want %q", got, want)
		}
		if got, want := out.Now.Format("2006-01-02"), "2030-01-02"; got != want {
			t.Fatalf("job ran at %v, want the set clock", out.Now)
		}
		if got, want := call(t, "POST", s.URL()+"/_local/jobs/tock", "", nil).problem(t, http.StatusNotFound), "job_not_found"; got != want {
			t.Fatalf("code = %q, want %q", got, want)
		}
	})

	t.Run("GracefulShutdown", func(t *testing.T) {
		if r := call(t, "POST", s.URL()+"/test/items/last", key, []byte(`{"status":"pending"}`)); r.status != http.StatusCreated {
			t.Fatalf("write: %d %s", r.status, r.body)
		}
		s.stop(t)
		if _, err := http.Get(s.URL() + "/v1/health"); err == nil {
			t.Fatal("server still answers after shutdown")
		}
		db := sqlitetest.MustOpenFile(t, filepath.Join(dir, home.DatabaseFile))
		if _, err := db.Get(context.Background(), table.Key{PK: "TEST#last", SK: "ITEM"}); err != nil {
			t.Fatalf("acknowledged write lost: %v", err)
		}
		pos, err := os.ReadFile(filepath.Join(dir, "feed", "sqlite", "StreamFunction.Changes.pos"))
		if err != nil {
			t.Fatalf("feed position not kept: %v", err)
		}
		if len(pos) == 0 {
			t.Fatal("empty feed position")
		}
	})

	t.Run("RestartDoesNotRedeliver", func(t *testing.T) {
		before := spy.count("TEST#a")
		s2 := start(t, gdprd.Config{DataDir: dir, Template: []byte(testTemplate), Functions: testFunctions(spy)})
		if r := call(t, "POST", s2.URL()+"/test/items/d", key, []byte(`{"status":"verified"}`)); r.status != http.StatusCreated {
			t.Fatalf("write: %d %s", r.status, r.body)
		}
		waitFor(t, "record d delivered", func() bool { return spy.count("TEST#d") >= 2 })
		if got := spy.count("TEST#a"); got != before {
			t.Fatalf("record a delivered again after restart: %d times, was %d", got, before)
		}
	})
}

func TestFunctionFailure(t *testing.T) {
	failing := gdprd.Function{ID: "WriteFunction", HTTP: func(*ports.Ports) (lambdamain.HTTPHandler, error) {
		return func(_ context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			if ev.PathParameters["id"] == "panic" {
				panic("a bug in the handler")
			}
			return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("boom")
		}, nil
	}}
	s := start(t, gdprd.Config{Template: []byte(testTemplate), Functions: []gdprd.Function{failing}})
	// API Gateway answers these itself, with its own bodies.
	for _, tc := range []struct {
		name, key, id string
		status        int
		body          string
	}{
		{"FunctionFails", "allow", "x", http.StatusInternalServerError, `{"message":"Internal Server Error"}`},
		{"FunctionPanics", "allow", "panic", http.StatusInternalServerError, `{"message":"Internal Server Error"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, "POST", s.URL()+"/test/items/"+tc.id, tc.key, []byte(`{}`))
			if got, want := r.status, tc.status; got != want {
				t.Fatalf("status = %d, want %d", got, want)
			}
			if got, want := string(r.body), tc.body; got != want {
				t.Fatalf("body = %s, want %s", got, want)
			}
		})
	}
	// The server survives a panicking function.
	if r := call(t, "GET", s.URL()+"/_local/outbox", "", nil); r.status != http.StatusOK {
		t.Fatalf("after a panic, status = %d", r.status)
	}
}

// markTemplate is testTemplate's route with a stream function shaped as the service's are:
// filtered, batch size, bounded retries, partial batch failures, an on-failure queue.
const markTemplate = `
Transform: AWS::Serverless-2016-10-31
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: sk, AttributeType: S}
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
        - {AttributeName: sk, KeyType: RANGE}
      StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
  Api:
    Type: AWS::Serverless::HttpApi
  Failures:
    Type: AWS::SQS::Queue
  WriteFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Write:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: POST, Path: "/test/items/{id}"}
  MarkFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Verified:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Table.StreamArn
            StartingPosition: TRIM_HORIZON
            BatchSize: 5
            MaximumRetryAttempts: 2
            FunctionResponseTypes: [ReportBatchItemFailures]
            FilterCriteria:
              Filters:
                - Pattern: '{"eventName":["INSERT","MODIFY"],"dynamodb":{"NewImage":{"status":{"S":["verified"]}}}}'
            DestinationConfig:
              OnFailure:
                Type: SQS
                Destination: !GetAtt Failures.Arn
`

// markFunction is MarkFunction: for each item that became verified it stores a MARK item
// beside it, once however often the record comes (a put that replaces).
func markFunction(p *ports.Ports) (lambdamain.StreamHandler, error) {
	return func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		var resp events.DynamoDBEventResponse
		for _, rec := range ev.Records {
			c, err := streamimage.Change(rec)
			if err == nil {
				var it table.Item
				if it, err = table.NewItem(table.Key{PK: c.Key.PK, SK: "MARK"}, 0, map[string]string{"from": rec.EventName}); err == nil {
					err = p.Table.Put(ctx, it, table.Cond{})
				}
			}
			if err != nil {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: rec.Change.SequenceNumber})
			}
		}
		return resp, nil
	}, nil
}

// TestStreamFunction: a stream function registered as the service's are (one gdprd.Stream
// line) gets, on SQLite, the records its filter lets through, written by an HTTP function,
// and acts on them; the others never reach it.
func TestStreamFunction(t *testing.T) {
	dir := t.TempDir()
	s := start(t, gdprd.Config{DataDir: dir, Template: []byte(markTemplate), Functions: []gdprd.Function{
		gdprd.HTTP("WriteFunction", writeFunction),
		gdprd.Stream("MarkFunction", markFunction),
	}})
	key := credentials(t, dir).SiteKey
	// b first: the feed is delivered in order, so once a is marked, b's record has been
	// filtered already.
	for _, w := range [][2]string{{"b", "pending"}, {"a", "verified"}} {
		if r := call(t, "POST", s.URL()+"/test/items/"+w[0], key, []byte(`{"status":"`+w[1]+`"}`)); r.status != http.StatusCreated {
			t.Fatalf("write %s: %d %s", w[0], r.status, r.body)
		}
	}
	marked := func(id string) bool {
		_, err := s.Ports().Table.Get(context.Background(), table.Key{PK: "TEST#" + id, SK: "MARK"})
		return err == nil
	}
	waitFor(t, "item a marked", func() bool { return marked("a") })
	if marked("b") {
		t.Fatal("item b, pending, was delivered")
	}
	// b becomes verified: a MODIFY that now matches.
	if r := call(t, "POST", s.URL()+"/test/items/b", key, []byte(`{"status":"verified"}`)); r.status != http.StatusCreated {
		t.Fatalf("write b: %d %s", r.status, r.body)
	}
	waitFor(t, "item b marked once verified", func() bool { return marked("b") })
	it, err := s.Ports().Table.Get(context.Background(), table.Key{PK: "TEST#b", SK: "MARK"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(it.Data), `{"from":"MODIFY"}`; got != want {
		t.Fatalf("mark of b = %s, want %s", got, want)
	}
}
