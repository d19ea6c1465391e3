package dynamo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/table"
)

// An item is stored as pk and sk (S), v (N), wid (S, the write's random id) and one DynamoDB
// attribute per top-level member of its JSON data: strings are S, numbers N with the digits
// as written (so integers beyond 2^53 and decimals survive), booleans BOOL, null NULL,
// objects M and arrays L. DynamoDB itself canonicalises numbers (1.50 reads back as 1.5, 1e2
// as 100) and refuses more than 38 significant digits, so only canonical numbers round-trip
// to the byte. A stream image shows the item the same way: internal/streamimage converts
// with ItemAttributes and ItemFromAttributes, so the rules exist once.

// marshalItem is the DynamoDB item of it stored at the given version, with a new write id.
func marshalItem(it table.Item, version int64) (map[string]types.AttributeValue, error) {
	it.Version = version
	av, err := ItemAttributes(it)
	if err != nil {
		return nil, err
	}
	av[table.AttrWrite] = &types.AttributeValueMemberS{Value: secrets.NewID("", 12)}
	return av, nil
}

// ItemAttributes is it as DynamoDB attributes: pk, sk, v (it.Version) and its data. Data
// that is not a JSON object, or uses a reserved name (pk, sk, v, wid), is refused.
func ItemAttributes(it table.Item) (map[string]types.AttributeValue, error) {
	dec := json.NewDecoder(bytes.NewReader(it.Data))
	dec.UseNumber()
	var data map[string]any
	if err := dec.Decode(&data); err != nil {
		return nil, fmt.Errorf("dynamo: item %s: data: %w", it.Key, err)
	}
	av := make(map[string]types.AttributeValue, len(data)+4)
	for name, v := range data {
		switch name {
		case table.AttrPK, table.AttrSK, table.AttrVersion, table.AttrWrite:
			return nil, fmt.Errorf("dynamo: item %s: data uses reserved attribute %q", it.Key, name)
		}
		a, err := toAttr(v)
		if err != nil {
			return nil, fmt.Errorf("dynamo: item %s: attribute %q: %w", it.Key, name, err)
		}
		av[name] = a
	}
	for name, a := range keyAttrs(it.Key) {
		av[name] = a
	}
	av[table.AttrVersion] = &types.AttributeValueMemberN{Value: strconv.FormatInt(it.Version, 10)}
	return av, nil
}

// keyAttrs is the primary key of k as DynamoDB addresses it.
func keyAttrs(k table.Key) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		table.AttrPK: &types.AttributeValueMemberS{Value: k.PK},
		table.AttrSK: &types.AttributeValueMemberS{Value: k.SK},
	}
}

func toAttr(v any) (types.AttributeValue, error) {
	switch v := v.(type) {
	case string:
		return &types.AttributeValueMemberS{Value: v}, nil
	case json.Number:
		return &types.AttributeValueMemberN{Value: v.String()}, nil
	case bool:
		return &types.AttributeValueMemberBOOL{Value: v}, nil
	case nil:
		return &types.AttributeValueMemberNULL{Value: true}, nil
	case map[string]any:
		m := make(map[string]types.AttributeValue, len(v))
		for name, e := range v {
			a, err := toAttr(e)
			if err != nil {
				return nil, err
			}
			m[name] = a
		}
		return &types.AttributeValueMemberM{Value: m}, nil
	case []any:
		l := make([]types.AttributeValue, len(v))
		for i, e := range v {
			a, err := toAttr(e)
			if err != nil {
				return nil, err
			}
			l[i] = a
		}
		return &types.AttributeValueMemberL{Value: l}, nil
	}
	return nil, fmt.Errorf("unexpected JSON value %T", v)
}

// ItemFromAttributes reads back an item stored as ItemAttributes and marshalItem store it (the
// write id is dropped). An item read from a KEYS_ONLY index, or a record's keys, has no
// version attribute; its Version is then 0.
func ItemFromAttributes(av map[string]types.AttributeValue) (table.Item, error) {
	var it table.Item
	pk, okPK := av[table.AttrPK].(*types.AttributeValueMemberS)
	sk, okSK := av[table.AttrSK].(*types.AttributeValueMemberS)
	if !okPK || !okSK {
		return table.Item{}, errors.New("dynamo: item without string pk and sk")
	}
	it.Key = table.Key{PK: pk.Value, SK: sk.Value}
	data := make(map[string]any, len(av))
	for name, a := range av {
		switch name {
		case table.AttrPK, table.AttrSK, table.AttrWrite:
		case table.AttrVersion:
			n, ok := a.(*types.AttributeValueMemberN)
			if !ok {
				return table.Item{}, fmt.Errorf("dynamo: item %s: version is not a number", it.Key)
			}
			v, err := strconv.ParseInt(n.Value, 10, 64)
			if err != nil {
				return table.Item{}, fmt.Errorf("dynamo: item %s: version: %w", it.Key, err)
			}
			it.Version = v
		default:
			v, err := fromAttr(a)
			if err != nil {
				return table.Item{}, fmt.Errorf("dynamo: item %s: attribute %q: %w", it.Key, name, err)
			}
			data[name] = v
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Strings come back as they were stored, not with <, > and & escaped.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(data); err != nil {
		return table.Item{}, fmt.Errorf("dynamo: item %s: %w", it.Key, err)
	}
	it.Data = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	return it, nil
}

func fromAttr(a types.AttributeValue) (any, error) {
	switch a := a.(type) {
	case *types.AttributeValueMemberS:
		return a.Value, nil
	case *types.AttributeValueMemberN:
		return json.Number(a.Value), nil
	case *types.AttributeValueMemberBOOL:
		return a.Value, nil
	case *types.AttributeValueMemberNULL:
		return nil, nil
	case *types.AttributeValueMemberM:
		m := make(map[string]any, len(a.Value))
		for name, e := range a.Value {
			v, err := fromAttr(e)
			if err != nil {
				return nil, err
			}
			m[name] = v
		}
		return m, nil
	case *types.AttributeValueMemberL:
		l := make([]any, len(a.Value))
		for i, e := range a.Value {
			v, err := fromAttr(e)
			if err != nil {
				return nil, err
			}
			l[i] = v
		}
		return l, nil
	}
	// Sets and binaries have no JSON form; the port never writes them.
	return nil, fmt.Errorf("attribute type %T has no JSON form", a)
}
