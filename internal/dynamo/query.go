package dynamo

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/example/gdpr/internal/table"
)

// keySet names the key attributes of a query: the partition and sort key it reads by, and
// every attribute of the position DynamoDB continues from (for an index: its keys and the
// table's).
type keySet struct {
	hash, rng string
	position  []string
}

func (t *Table) keys(index string) (keySet, error) {
	if index == "" {
		return keySet{hash: table.AttrPK, rng: table.AttrSK, position: []string{table.AttrPK, table.AttrSK}}, nil
	}
	ix, ok := t.def.Index(index)
	if !ok {
		return keySet{}, fmt.Errorf("dynamo: no index %q on table %s", index, t.name)
	}
	ks := keySet{hash: ix.HashKey, rng: ix.RangeKey, position: []string{table.AttrPK, table.AttrSK}}
	for _, name := range []string{ix.HashKey, ix.RangeKey} {
		if name != "" && !slices.Contains(ks.position, name) {
			ks.position = append(ks.position, name)
		}
	}
	return ks, nil
}

// Query reads one page. It asks DynamoDB for one item more than the page holds, so that Next
// is "" exactly when nothing follows, as on SQLite: a DynamoDB LastEvaluatedKey alone would
// give an empty last page whenever the items end on a page boundary. Queries of the table
// read with strong consistency; indexes offer only eventual consistency.
//
// Items read from a KEYS_ONLY index (Expiry) carry only their key attributes and Version 0.
func (t *Table) Query(ctx context.Context, q table.Query) (table.Page, error) {
	if err := table.ValidateQuery(q); err != nil {
		return table.Page{}, err
	}
	ks, err := t.keys(q.Index)
	if err != nil {
		return table.Page{}, err
	}
	kc, err := keyCondition(q, ks)
	if err != nil {
		return table.Page{}, err
	}
	e, err := expression.NewBuilder().WithKeyCondition(kc).Build()
	if err != nil {
		return table.Page{}, fmt.Errorf("dynamo: query: %w", err)
	}
	in := &dynamodb.QueryInput{
		TableName:                 &t.name,
		KeyConditionExpression:    e.KeyCondition(),
		ExpressionAttributeNames:  e.Names(),
		ExpressionAttributeValues: e.Values(),
		ScanIndexForward:          aws.Bool(!q.Desc),
		ConsistentRead:            aws.Bool(q.Index == ""),
	}
	if q.Index != "" {
		in.IndexName = &q.Index
	}
	if q.Cursor != "" {
		if in.ExclusiveStartKey, err = decodeCursor(q, ks); err != nil {
			return table.Page{}, err
		}
	}
	limit := q.PageSize()
	var raw []map[string]types.AttributeValue
	for {
		// Limit counts items read; with no filter that is items returned. A response may
		// still stop short at 1 MB, with a LastEvaluatedKey to go on from.
		in.Limit = aws.Int32(int32(limit + 1 - len(raw)))
		out, err := t.db.Query(ctx, in)
		if err != nil {
			return table.Page{}, fmt.Errorf("dynamo: query %s: %w", queryName(q), err)
		}
		raw = append(raw, out.Items...)
		if len(raw) > limit || out.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	var page table.Page
	if len(raw) > limit {
		raw = raw[:limit]
		if page.Next, err = encodeCursor(raw[limit-1], ks); err != nil {
			return table.Page{}, err
		}
	}
	page.Items = make([]table.Item, len(raw))
	for i, av := range raw {
		if page.Items[i], err = ItemFromAttributes(av); err != nil {
			return table.Page{}, err
		}
	}
	return page, nil
}

func queryName(q table.Query) string {
	if q.Index == "" {
		return table.Redact(q.PK)
	}
	return q.Index + " " + table.Redact(q.PK)
}

func keyCondition(q table.Query, ks keySet) (expression.KeyConditionBuilder, error) {
	kc := expression.Key(ks.hash).Equal(expression.Value(q.PK))
	if ks.rng == "" {
		if q.Prefix != "" || q.From != "" || q.To != "" {
			return kc, fmt.Errorf("dynamo: index %q has no sort key to bound", q.Index)
		}
		return kc, nil
	}
	sk := expression.Key(ks.rng)
	switch {
	case q.Prefix != "":
		kc = kc.And(sk.BeginsWith(q.Prefix))
	case q.From != "" && q.To != "":
		kc = kc.And(sk.Between(expression.Value(q.From), expression.Value(q.To)))
	case q.From != "":
		kc = kc.And(sk.GreaterThanEqual(expression.Value(q.From)))
	case q.To != "":
		kc = kc.And(sk.LessThanEqual(expression.Value(q.To)))
	}
	return kc, nil
}

// A cursor is the key of the last item of a page, as DynamoDB's ExclusiveStartKey takes it:
// base64url of a JSON object of the position attributes, all strings.
func encodeCursor(av map[string]types.AttributeValue, ks keySet) (string, error) {
	m := make(map[string]string, len(ks.position))
	for _, name := range ks.position {
		s, ok := av[name].(*types.AttributeValueMemberS)
		if !ok {
			return "", fmt.Errorf("dynamo: query: key attribute %q of a returned item is not a string", name)
		}
		m[name] = s.Value
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("dynamo: cursor: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// decodeCursor accepts only a cursor this query could have produced: exactly the position
// attributes, none empty, in the queried partition and within the sort-key bounds. DynamoDB
// refuses some of these itself; checking them here answers ErrBadCursor for all of them.
func decodeCursor(q table.Query, ks keySet) (map[string]types.AttributeValue, error) {
	b, err := base64.RawURLEncoding.DecodeString(q.Cursor)
	if err != nil {
		return nil, table.ErrBadCursor
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil || len(m) != len(ks.position) {
		return nil, table.ErrBadCursor
	}
	av := make(map[string]types.AttributeValue, len(m))
	for _, name := range ks.position {
		v := m[name]
		if v == "" {
			return nil, table.ErrBadCursor
		}
		av[name] = &types.AttributeValueMemberS{Value: v}
	}
	if m[ks.hash] != q.PK {
		return nil, table.ErrBadCursor
	}
	if ks.rng != "" {
		s := m[ks.rng]
		if !strings.HasPrefix(s, q.Prefix) || (q.From != "" && s < q.From) || (q.To != "" && s > q.To) {
			return nil, table.ErrBadCursor
		}
	}
	return av, nil
}
