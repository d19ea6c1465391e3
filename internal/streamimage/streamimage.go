// Package streamimage converts table items to the images of a DynamoDB stream record and
// back, so stream handlers decode what Lambda delivers and gdprd encodes what it feeds them.
//
// An image shows an item exactly as internal/dynamo stores it, so the conversion is
// dynamo's own (dynamo.ItemAttributes, dynamo.ItemFromAttributes); this package only maps the
// SDK's attribute values to aws-lambda-go's event types and back.
package streamimage

import (
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/example/gdpr/internal/dynamo"
	"github.com/example/gdpr/internal/table"
)

// Keys is the Keys member of a stream record of the item with key k.
func Keys(k table.Key) map[string]events.DynamoDBAttributeValue {
	return map[string]events.DynamoDBAttributeValue{
		table.AttrPK: events.NewStringAttribute(k.PK),
		table.AttrSK: events.NewStringAttribute(k.SK),
	}
}

// Image is the stream image of it.
func Image(it table.Item) (map[string]events.DynamoDBAttributeValue, error) {
	av, err := dynamo.ItemAttributes(it)
	if err != nil {
		return nil, fmt.Errorf("streamimage: %w", err)
	}
	img := make(map[string]events.DynamoDBAttributeValue, len(av))
	for name, a := range av {
		if img[name], err = toEvent(a); err != nil {
			return nil, fmt.Errorf("streamimage: item %s: attribute %q: %w", it.Key, name, err)
		}
	}
	return img, nil
}

// Item reads an image back into the item it shows. An image without v (a KEYS_ONLY view)
// reads as Version 0.
func Item(img map[string]events.DynamoDBAttributeValue) (table.Item, error) {
	av := make(map[string]types.AttributeValue, len(img))
	for name, a := range img {
		v, err := fromEvent(a)
		if err != nil {
			return table.Item{}, fmt.Errorf("streamimage: attribute %q: %w", name, err)
		}
		av[name] = v
	}
	it, err := dynamo.ItemFromAttributes(av)
	if err != nil {
		return table.Item{}, fmt.Errorf("streamimage: %w", err)
	}
	return it, nil
}

// Change decodes one stream record into the change it reports. Seq is the record's
// sequence number.
func Change(r events.DynamoDBEventRecord) (table.Change, error) {
	c := table.Change{
		Seq:   r.Change.SequenceNumber,
		Event: r.EventName,
		At:    r.Change.ApproximateCreationDateTime.UTC(),
	}
	// The keys alone read as an item with no data.
	k, err := Item(r.Change.Keys)
	if err != nil {
		return table.Change{}, fmt.Errorf("streamimage: record %s: keys: %w", r.EventID, err)
	}
	c.Key = k.Key
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

// toEvent maps an SDK attribute value to the event type, member for member, binaries aside.
func toEvent(a types.AttributeValue) (events.DynamoDBAttributeValue, error) {
	switch a := a.(type) {
	case *types.AttributeValueMemberS:
		return events.NewStringAttribute(a.Value), nil
	case *types.AttributeValueMemberN:
		return events.NewNumberAttribute(a.Value), nil
	case *types.AttributeValueMemberBOOL:
		return events.NewBooleanAttribute(a.Value), nil
	case *types.AttributeValueMemberNULL:
		return events.NewNullAttribute(), nil
	case *types.AttributeValueMemberSS:
		return events.NewStringSetAttribute(a.Value), nil
	case *types.AttributeValueMemberNS:
		return events.NewNumberSetAttribute(a.Value), nil
	case *types.AttributeValueMemberM:
		m := make(map[string]events.DynamoDBAttributeValue, len(a.Value))
		for name, e := range a.Value {
			v, err := toEvent(e)
			if err != nil {
				return events.DynamoDBAttributeValue{}, err
			}
			m[name] = v
		}
		return events.NewMapAttribute(m), nil
	case *types.AttributeValueMemberL:
		l := make([]events.DynamoDBAttributeValue, len(a.Value))
		for i, e := range a.Value {
			v, err := toEvent(e)
			if err != nil {
				return events.DynamoDBAttributeValue{}, err
			}
			l[i] = v
		}
		return events.NewListAttribute(l), nil
	}
	// Binaries have no JSON form, and the table port never writes them.
	return events.DynamoDBAttributeValue{}, fmt.Errorf("attribute type %T is not mapped", a)
}

// fromEvent maps an event attribute value to the SDK type, member for member, binaries aside.
func fromEvent(a events.DynamoDBAttributeValue) (types.AttributeValue, error) {
	switch a.DataType() {
	case events.DataTypeString:
		return &types.AttributeValueMemberS{Value: a.String()}, nil
	case events.DataTypeNumber:
		return &types.AttributeValueMemberN{Value: a.Number()}, nil
	case events.DataTypeBoolean:
		return &types.AttributeValueMemberBOOL{Value: a.Boolean()}, nil
	case events.DataTypeNull:
		return &types.AttributeValueMemberNULL{Value: true}, nil
	case events.DataTypeStringSet:
		return &types.AttributeValueMemberSS{Value: a.StringSet()}, nil
	case events.DataTypeNumberSet:
		return &types.AttributeValueMemberNS{Value: a.NumberSet()}, nil
	case events.DataTypeMap:
		m := make(map[string]types.AttributeValue, len(a.Map()))
		for name, e := range a.Map() {
			v, err := fromEvent(e)
			if err != nil {
				return nil, err
			}
			m[name] = v
		}
		return &types.AttributeValueMemberM{Value: m}, nil
	case events.DataTypeList:
		l := make([]types.AttributeValue, len(a.List()))
		for i, e := range a.List() {
			v, err := fromEvent(e)
			if err != nil {
				return nil, err
			}
			l[i] = v
		}
		return &types.AttributeValueMemberL{Value: l}, nil
	}
	// Binaries have no JSON form, and the table port never writes them (a zero value reads as
	// one, with nothing in it).
	return nil, fmt.Errorf("attribute type %d is not mapped", a.DataType())
}
