// Package streamimage converts table items to the images of a DynamoDB stream record and
// back, so stream handlers decode what Lambda delivers and gdprd encodes what it feeds them.
package streamimage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/gdpr/internal/table"
)

// An image holds pk and sk (S), v (N) and one attribute per top-level member of the item's
// JSON data, exactly as internal/dynamo stores the item: JSON strings are S, numbers N (the
// digits as written), booleans BOOL, null NULL, objects M and arrays L.

// Keys is the Keys member of a stream record of the item with key k.
func Keys(k table.Key) map[string]events.DynamoDBAttributeValue {
	return map[string]events.DynamoDBAttributeValue{
		table.AttrPK: events.NewStringAttribute(k.PK),
		table.AttrSK: events.NewStringAttribute(k.SK),
	}
}

// Image is the stream image of it.
func Image(it table.Item) (map[string]events.DynamoDBAttributeValue, error) {
	dec := json.NewDecoder(bytes.NewReader(it.Data))
	dec.UseNumber()
	var data map[string]any
	if err := dec.Decode(&data); err != nil {
		return nil, fmt.Errorf("streamimage: item %s: data: %w", it.Key, err)
	}
	img := Keys(it.Key)
	for name, v := range data {
		switch name {
		case table.AttrPK, table.AttrSK, table.AttrVersion:
			return nil, fmt.Errorf("streamimage: item %s: data uses reserved attribute %q", it.Key, name)
		}
		a, err := toAttr(v)
		if err != nil {
			return nil, fmt.Errorf("streamimage: item %s: attribute %q: %w", it.Key, name, err)
		}
		img[name] = a
	}
	img[table.AttrVersion] = events.NewNumberAttribute(strconv.FormatInt(it.Version, 10))
	return img, nil
}

func toAttr(v any) (events.DynamoDBAttributeValue, error) {
	switch v := v.(type) {
	case string:
		return events.NewStringAttribute(v), nil
	case json.Number:
		return events.NewNumberAttribute(v.String()), nil
	case bool:
		return events.NewBooleanAttribute(v), nil
	case nil:
		return events.NewNullAttribute(), nil
	case map[string]any:
		m := make(map[string]events.DynamoDBAttributeValue, len(v))
		for name, e := range v {
			a, err := toAttr(e)
			if err != nil {
				return events.DynamoDBAttributeValue{}, err
			}
			m[name] = a
		}
		return events.NewMapAttribute(m), nil
	case []any:
		l := make([]events.DynamoDBAttributeValue, len(v))
		for i, e := range v {
			a, err := toAttr(e)
			if err != nil {
				return events.DynamoDBAttributeValue{}, err
			}
			l[i] = a
		}
		return events.NewListAttribute(l), nil
	}
	return events.DynamoDBAttributeValue{}, fmt.Errorf("unexpected JSON value %T", v)
}

// Item reads an image back into the item it shows. An image without v (a KEYS_ONLY view)
// reads as Version 0.
func Item(img map[string]events.DynamoDBAttributeValue) (table.Item, error) {
	pk, okPK := img[table.AttrPK]
	sk, okSK := img[table.AttrSK]
	if !okPK || !okSK || pk.DataType() != events.DataTypeString || sk.DataType() != events.DataTypeString {
		return table.Item{}, errors.New("streamimage: image without string pk and sk")
	}
	it := table.Item{Key: table.Key{PK: pk.String(), SK: sk.String()}}
	data := make(map[string]any, len(img))
	for name, a := range img {
		switch name {
		case table.AttrPK, table.AttrSK, table.AttrWrite:
		case table.AttrVersion:
			if a.DataType() != events.DataTypeNumber {
				return table.Item{}, fmt.Errorf("streamimage: item %s: version is not a number", it.Key)
			}
			v, err := strconv.ParseInt(a.Number(), 10, 64)
			if err != nil {
				return table.Item{}, fmt.Errorf("streamimage: item %s: version: %w", it.Key, err)
			}
			it.Version = v
		default:
			v, err := fromAttr(a)
			if err != nil {
				return table.Item{}, fmt.Errorf("streamimage: item %s: attribute %q: %w", it.Key, name, err)
			}
			data[name] = v
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Strings come back as they were stored, not with <, > and & escaped.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(data); err != nil {
		return table.Item{}, fmt.Errorf("streamimage: item %s: %w", it.Key, err)
	}
	it.Data = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	return it, nil
}

func fromAttr(a events.DynamoDBAttributeValue) (any, error) {
	switch a.DataType() {
	case events.DataTypeString:
		return a.String(), nil
	case events.DataTypeNumber:
		return json.Number(a.Number()), nil
	case events.DataTypeBoolean:
		return a.Boolean(), nil
	case events.DataTypeNull:
		return nil, nil
	case events.DataTypeMap:
		m := make(map[string]any, len(a.Map()))
		for name, e := range a.Map() {
			v, err := fromAttr(e)
			if err != nil {
				return nil, err
			}
			m[name] = v
		}
		return m, nil
	case events.DataTypeList:
		l := make([]any, len(a.List()))
		for i, e := range a.List() {
			v, err := fromAttr(e)
			if err != nil {
				return nil, err
			}
			l[i] = v
		}
		return l, nil
	}
	// Sets and binaries have no JSON form; the table port never writes them.
	return nil, fmt.Errorf("attribute type %d has no JSON form", a.DataType())
}

// Change decodes one stream record into the change it reports. Seq is the record's
// sequence number.
func Change(r events.DynamoDBEventRecord) (table.Change, error) {
	c := table.Change{
		Seq:   r.Change.SequenceNumber,
		Event: r.EventName,
		At:    r.Change.ApproximateCreationDateTime.UTC(),
	}
	pk, okPK := r.Change.Keys[table.AttrPK]
	sk, okSK := r.Change.Keys[table.AttrSK]
	if !okPK || !okSK || pk.DataType() != events.DataTypeString || sk.DataType() != events.DataTypeString {
		return table.Change{}, fmt.Errorf("streamimage: record %s: keys without string pk and sk", r.EventID)
	}
	c.Key = table.Key{PK: pk.String(), SK: sk.String()}
	if r.Change.OldImage != nil {
		old, err := Item(r.Change.OldImage)
		if err != nil {
			return table.Change{}, fmt.Errorf("streamimage: record %s: old image: %w", r.EventID, err)
		}
		c.Old = &old
	}
	if r.Change.NewImage != nil {
		newer, err := Item(r.Change.NewImage)
		if err != nil {
			return table.Change{}, fmt.Errorf("streamimage: record %s: new image: %w", r.EventID, err)
		}
		c.New = &newer
	}
	return c, nil
}
