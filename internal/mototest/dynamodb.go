package mototest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/example/gdpr/internal/table"
)

// Writes is an http.RoundTripper for DynamoDB clients of a moto_server that makes concurrent
// writes meet as they do on DynamoDB, as far as that can be done from outside.
//
// moto 5.2.1 serves requests on threads without a lock, and a TransactWriteItems whose
// condition fails restores a copy of the whole table taken when it began, undoing whatever
// other threads wrote meanwhile (dynamodb/models/__init__.py, transact_write_items): run
// unguarded, 100 concurrent consent decisions all succeed and 30 of their ledger entries are
// gone. So Writes lets one write at a time reach moto (reads still run concurrently, and a
// writer still races between its read and its conditional write, whose condition moto
// checks). DynamoDB cancels a transaction that meets another one in flight on the same item,
// with reason TransactionConflict; so does Writes, answering DynamoDB's own cancellation body,
// so that callers go through the adapter's real handling of that answer. A single write to an
// item of a transaction in flight waits here; DynamoDB would refuse it
// (TransactionConflictException), which this cannot show.
type Writes struct {
	next  http.RoundTripper
	write sync.Mutex // held while a write is at moto

	mu       sync.Mutex
	inFlight map[string]bool // items of transactions admitted and not yet answered

	conflicts atomic.Int64
}

// NewWrites wraps next (nil: http.DefaultTransport).
func NewWrites(next http.RoundTripper) *Writes {
	if next == nil {
		next = http.DefaultTransport
	}
	return &Writes{next: next, inFlight: map[string]bool{}}
}

// Conflicts is how many transactions were cancelled for meeting another in flight.
func (w *Writes) Conflicts() int64 { return w.conflicts.Load() }

func (w *Writes) RoundTrip(req *http.Request) (*http.Response, error) {
	_, op, _ := strings.Cut(req.Header.Get("X-Amz-Target"), ".")
	switch op {
	case "PutItem", "DeleteItem", "UpdateItem", "BatchWriteItem":
		w.write.Lock()
		defer w.write.Unlock()
		return w.next.RoundTrip(req)
	case "TransactWriteItems":
	default:
		return w.next.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	keys, err := transactionKeys(body)
	if err != nil {
		return nil, fmt.Errorf("mototest: %w", err)
	}
	w.mu.Lock()
	reasons, conflict := make([]string, len(keys)), false
	for i, k := range keys {
		reasons[i] = "None"
		if w.inFlight[k] {
			reasons[i], conflict = "TransactionConflict", true
		}
	}
	if !conflict {
		for _, k := range keys {
			w.inFlight[k] = true
		}
	}
	w.mu.Unlock()
	if conflict {
		w.conflicts.Add(1)
		return TransactionCanceled(req, reasons...), nil
	}
	defer func() {
		w.mu.Lock()
		for _, k := range keys {
			delete(w.inFlight, k)
		}
		w.mu.Unlock()
	}()
	w.write.Lock()
	defer w.write.Unlock()
	resp, err := w.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	// moto has answered once the body is read: read it here, under the lock.
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

// transactionKeys names the item each write of a TransactWriteItems body addresses, in order.
func transactionKeys(body []byte) ([]string, error) {
	type key map[string]json.RawMessage
	var in struct {
		TransactItems []struct {
			Put *struct {
				TableName string
				Item      key
			}
			Delete *struct {
				TableName string
				Key       key
			}
			Update *struct {
				TableName string
				Key       key
			}
			ConditionCheck *struct {
				TableName string
				Key       key
			}
		}
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("TransactWriteItems body: %w", err)
	}
	name := func(tableName string, k key) string {
		return tableName + "|" + string(k[table.AttrPK]) + "|" + string(k[table.AttrSK])
	}
	var keys []string
	for _, it := range in.TransactItems {
		switch {
		case it.Put != nil:
			keys = append(keys, name(it.Put.TableName, it.Put.Item))
		case it.Delete != nil:
			keys = append(keys, name(it.Delete.TableName, it.Delete.Key))
		case it.Update != nil:
			keys = append(keys, name(it.Update.TableName, it.Update.Key))
		case it.ConditionCheck != nil:
			keys = append(keys, name(it.ConditionCheck.TableName, it.ConditionCheck.Key))
		default:
			return nil, fmt.Errorf("TransactWriteItems: a write of no known kind")
		}
	}
	return keys, nil
}

// TransactionCanceled is DynamoDB's answer to a cancelled TransactWriteItems: HTTP 400 with a
// TransactionCanceledException naming one reason per write, in order ("None",
// "ConditionalCheckFailed", "TransactionConflict", "ThrottlingError", …), as DynamoDB sends it.
func TransactionCanceled(req *http.Request, reasons ...string) *http.Response {
	type reason struct {
		Code    string
		Message string `json:",omitempty"`
	}
	messages := map[string]string{
		"ConditionalCheckFailed": "The conditional request failed",
		"TransactionConflict":    "Transaction is ongoing for the item",
		"ThrottlingError":        "Throughput exceeds the current capacity for one or more global secondary indexes. DynamoDB is automatically scaling your index so please be patient.",
	}
	rs := make([]reason, len(reasons))
	for i, r := range reasons {
		rs[i] = reason{Code: r, Message: messages[r]}
	}
	body, _ := json.Marshal(struct {
		Type    string   `json:"__type"`
		Reasons []reason `json:"CancellationReasons"`
		Message string
	}{
		Type:    "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
		Reasons: rs,
		Message: "Transaction cancelled, please refer cancellation reasons for specific reasons [" + strings.Join(reasons, ", ") + "]",
	})
	return DynamoDBError(req, http.StatusBadRequest, body)
}

// ConditionalCheckFailed is DynamoDB's answer to a PutItem or DeleteItem whose condition
// failed; item is the stored item in DynamoDB JSON (ReturnValuesOnConditionCheckFailure
// ALL_OLD), or nil when there is none.
func ConditionalCheckFailed(req *http.Request, item json.RawMessage) *http.Response {
	body, _ := json.Marshal(struct {
		Type    string          `json:"__type"`
		Message string          `json:"message"`
		Item    json.RawMessage `json:",omitempty"`
	}{"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException", "The conditional request failed", item})
	return DynamoDBError(req, http.StatusBadRequest, body)
}

// DynamoDBError is an error answer of DynamoDB's JSON protocol.
func DynamoDBError(req *http.Request, status int, body []byte) *http.Response {
	return &http.Response{
		StatusCode:    status,
		Status:        fmt.Sprintf("%d %s", status, http.StatusText(status)),
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/x-amz-json-1.0"}, "X-Amzn-Requestid": {"mototest"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}
