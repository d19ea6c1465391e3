// Package dynamo is the production engine of the table port: items, conditional writes,
// transactions and queries on one DynamoDB table, and its change feed from DynamoDB Streams.
package dynamo

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/example/gdpr/internal/table"
)

// Client is the part of the DynamoDB API a Table uses; *dynamodb.Client implements it.
type Client interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Table is the table port on one DynamoDB table.
type Table struct {
	db         Client
	name       string
	def        table.Def
	indexAttrs []string // the attributes that key an index (def.IndexKeyAttrs)
}

var _ table.Table = (*Table)(nil)

// New returns the table port on the DynamoDB table name, whose indexes def describes.
func New(db Client, name string, def table.Def) *Table {
	return &Table{db: db, name: name, def: def, indexAttrs: def.IndexKeyAttrs()}
}

// Get reads with strong consistency, as the SQLite engine always does.
func (t *Table) Get(ctx context.Context, k table.Key) (table.Item, error) {
	if err := table.ValidateKey(k); err != nil {
		return table.Item{}, err
	}
	out, err := t.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &t.name,
		Key:            keyAttrs(k),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return table.Item{}, fmt.Errorf("dynamo: get %s: %w", k, err)
	}
	if out.Item == nil {
		return table.Item{}, fmt.Errorf("dynamo: get %s: %w", k, table.ErrNotFound)
	}
	return ItemFromAttributes(out.Item)
}

func (t *Table) Put(ctx context.Context, it table.Item, c table.Cond) error {
	if err := table.Validate([]table.Write{table.Put(it, c)}); err != nil {
		return err
	}
	av, err := t.marshal(it)
	if err != nil {
		return err
	}
	e, err := condition(table.OpPut, c)
	if err != nil {
		return err
	}
	_, err = t.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 &t.name,
		Item:                      av,
		ConditionExpression:       e.Condition(),
		ExpressionAttributeNames:  e.Names(),
		ExpressionAttributeValues: e.Values(),
		// On a failed condition DynamoDB sends the stored item back at no extra cost: it tells
		// a lost answer (below) from a real conflict.
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) && ownWrite(ccf.Item, av) {
		// The SDK retries a call whose answer was lost (a timeout, a 5xx, a garbled response)
		// after the write had already happened; the retry then fails its condition against
		// that very write, which the item's write id names. The write succeeded.
		return nil
	}
	return singleWriteError("put", it.Key, err)
}

// ownWrite tells whether a stored item was written by the put of av (same write id).
func ownWrite(stored, av map[string]types.AttributeValue) bool {
	got, ok1 := stored[table.AttrWrite].(*types.AttributeValueMemberS)
	want, ok2 := av[table.AttrWrite].(*types.AttributeValueMemberS)
	return ok1 && ok2 && got.Value == want.Value
}

func (t *Table) Delete(ctx context.Context, k table.Key, c table.Cond) error {
	if err := table.ValidateKey(k); err != nil {
		return err
	}
	e, err := condition(table.OpDelete, c)
	if err != nil {
		return err
	}
	var attempts int
	_, err = t.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                           &t.name,
		Key:                                 keyAttrs(k),
		ConditionExpression:                 e.Condition(),
		ExpressionAttributeNames:            e.Names(),
		ExpressionAttributeValues:           e.Values(),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}, countAttempts(&attempts))
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) && len(ccf.Item) == 0 && attempts > 1 && c.Kind != table.IfAbsent {
		// The item is gone and this call was retried by the SDK: an earlier attempt deleted
		// it and its answer was lost. (A deletion has no write id to recognise; a delete by
		// someone else in that same instant ends in the same state.)
		return nil
	}
	return singleWriteError("delete", k, err)
}

// applied tells whether the table holds what the transaction wrote: every put's item carries
// its write id and every deleted item is gone. Reads are strongly consistent.
func (t *Table) applied(ctx context.Context, items []types.TransactWriteItem) (bool, error) {
	writes := 0
	for _, it := range items {
		var key map[string]types.AttributeValue
		var wid types.AttributeValue
		switch {
		case it.Put != nil:
			key = map[string]types.AttributeValue{table.AttrPK: it.Put.Item[table.AttrPK], table.AttrSK: it.Put.Item[table.AttrSK]}
			wid = it.Put.Item[table.AttrWrite]
		case it.Delete != nil:
			key = it.Delete.Key
		default:
			continue // a condition check wrote nothing
		}
		writes++
		out, err := t.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &t.name, Key: key, ConsistentRead: aws.Bool(true)})
		if err != nil {
			return false, err
		}
		if wid == nil && len(out.Item) != 0 {
			return false, nil // a deleted item is back
		}
		if wid != nil && !ownWrite(out.Item, map[string]types.AttributeValue{table.AttrWrite: wid}) {
			return false, nil
		}
	}
	return writes > 0, nil
}

// countAttempts counts the HTTP attempts of one call, the SDK's retries included: the
// middleware sits after the retry middleware, so it runs once per attempt.
func countAttempts(n *int) func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Finalize.Add(middleware.FinalizeMiddlewareFunc("gdprCountAttempts",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					*n++
					return next.HandleFinalize(ctx, in)
				}), middleware.After)
		})
	}
}

// marshal is the DynamoDB item that stores it at its next version. Index keys that are not
// non-empty strings are refused first, by the port's own rule, because emulators let them
// through (moto does) and every engine of the port must refuse them alike.
func (t *Table) marshal(it table.Item) (map[string]types.AttributeValue, error) {
	if err := table.ValidateIndexKeys(it.Data, t.indexAttrs); err != nil {
		return nil, err
	}
	av, err := marshalItem(it, it.Version+1)
	if err != nil {
		return nil, err
	}
	return av, nil
}

func singleWriteError(op string, k table.Key, err error) error {
	var ccf *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ccf):
		return &table.ConflictError{Index: 0, Key: k}
	default:
		return fmt.Errorf("dynamo: %s %s: %w", op, k, err)
	}
}

func (t *Table) Transact(ctx context.Context, ws []table.Write) error {
	if err := table.Validate(ws); err != nil {
		return err
	}
	items := make([]types.TransactWriteItem, len(ws))
	for i, w := range ws {
		e, err := condition(w.Op, w.Cond)
		if err != nil {
			return fmt.Errorf("dynamo: write %d: %w", i, err)
		}
		switch w.Op {
		case table.OpPut:
			av, err := t.marshal(w.Item)
			if err != nil {
				return err
			}
			items[i].Put = &types.Put{
				TableName:                 &t.name,
				Item:                      av,
				ConditionExpression:       e.Condition(),
				ExpressionAttributeNames:  e.Names(),
				ExpressionAttributeValues: e.Values(),
			}
		case table.OpDelete:
			items[i].Delete = &types.Delete{
				TableName:                 &t.name,
				Key:                       keyAttrs(w.Item.Key),
				ConditionExpression:       e.Condition(),
				ExpressionAttributeNames:  e.Names(),
				ExpressionAttributeValues: e.Values(),
			}
		case table.OpCheck:
			items[i].ConditionCheck = &types.ConditionCheck{
				TableName:                 &t.name,
				Key:                       keyAttrs(w.Item.Key),
				ConditionExpression:       e.Condition(),
				ExpressionAttributeNames:  e.Names(),
				ExpressionAttributeValues: e.Values(),
			}
		default:
			return fmt.Errorf("dynamo: write %d: unknown op %d", i, w.Op)
		}
	}
	var attempts int
	_, err := t.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items}, countAttempts(&attempts))
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) && attempts > 1 {
		// DynamoDB makes a retried transaction idempotent through the SDK's ClientRequestToken;
		// emulators do not, so check for ourselves whether an earlier attempt applied it.
		applied, rerr := t.applied(ctx, items)
		if rerr != nil {
			return fmt.Errorf("dynamo: transact %d writes: %w (and reading back: %w)", len(ws), err, rerr)
		}
		if applied {
			return nil
		}
	}
	if errors.As(err, &tce) {
		// Reasons come in the order of the writes. A failed condition names its write. A
		// TransactionConflict (another transaction held the item) is reported as a conflict
		// too: the item is changing under the caller, whose answer — read again, retry — is the
		// same as for a stale version. Other codes (throttling) are engine failures.
		conflict := -1
		for i, r := range tce.CancellationReasons {
			switch code := aws.ToString(r.Code); {
			case i >= len(ws):
			case code == "ConditionalCheckFailed":
				return &table.ConflictError{Index: i, Key: ws[i].Item.Key}
			case code == "TransactionConflict" && conflict < 0:
				conflict = i
			}
		}
		if conflict >= 0 {
			return &table.ConflictError{Index: conflict, Key: ws[conflict].Item.Key}
		}
	}
	if err != nil {
		return fmt.Errorf("dynamo: transact %d writes: %w", len(ws), err)
	}
	return nil
}

// condition is the condition expression of one write. The empty expression (no condition) is
// returned for Always, except on a check: DynamoDB requires a condition there, so Always
// becomes one that every item, present or not, meets.
func condition(op table.Op, c table.Cond) (expression.Expression, error) {
	pk := expression.Name(table.AttrPK)
	var b expression.ConditionBuilder
	switch c.Kind {
	case table.Always:
		if op != table.OpCheck {
			return expression.Expression{}, nil
		}
		b = expression.AttributeNotExists(pk).Or(expression.AttributeExists(pk))
	case table.IfAbsent:
		b = expression.AttributeNotExists(pk)
	case table.IfExists:
		b = expression.AttributeExists(pk)
	case table.IfVersion:
		b = expression.Name(table.AttrVersion).Equal(expression.Value(c.Version))
	default:
		return expression.Expression{}, fmt.Errorf("unknown condition kind %d", c.Kind)
	}
	e, err := expression.NewBuilder().WithCondition(b).Build()
	if err != nil {
		return expression.Expression{}, fmt.Errorf("condition: %w", err)
	}
	return e, nil
}
