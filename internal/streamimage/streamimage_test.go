package streamimage_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/gdpr/internal/streamimage"
	"github.com/example/gdpr/internal/table"
)

func TestImage(t *testing.T) {
	it := table.Item{
		Key:     table.Key{PK: "T#demo#R#r1", SK: "REQUEST"},
		Version: 3,
		Data: json.RawMessage(`{"status":"verified","n":12345678901234567890,"f":1.5,"ok":true,"none":null,` +
			`"obj":{"a":[1,"x",{"b":false}]},"list":[],"html":"<a&b>"}`),
	}
	img, err := streamimage.Image(it)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(img)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"pk":     `{"S":"T#demo#R#r1"}`,
		"sk":     `{"S":"REQUEST"}`,
		"v":      `{"N":"3"}`,
		"status": `{"S":"verified"}`,
		"n":      `{"N":"12345678901234567890"}`,
		"f":      `{"N":"1.5"}`,
		"ok":     `{"BOOL":true}`,
		"none":   `{"NULL":true}`,
		"obj":    `{"M":{"a":{"L":[{"N":"1"},{"S":"x"},{"M":{"b":{"BOOL":false}}}]}}}`,
		"list":   `{"L":[]}`,
	}
	for name, w := range want {
		g, err := json.Marshal(got[name])
		if err != nil {
			t.Fatal(err)
		}
		if string(g) != w {
			t.Errorf("%s = %s, want %s", name, g, w)
		}
	}

	t.Run("RoundTrip", func(t *testing.T) {
		// Through JSON, as Lambda delivers it.
		var decoded map[string]events.DynamoDBAttributeValue
		if err := json.Unmarshal(b, &decoded); err != nil {
			t.Fatal(err)
		}
		back, err := streamimage.Item(decoded)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := back.Key, it.Key; got != want {
			t.Fatalf("key = %v, want %v", got, want)
		}
		if got, want := back.Version, it.Version; got != want {
			t.Fatalf("version = %d, want %d", got, want)
		}
		if got, want := canonical(t, back.Data), canonical(t, it.Data); got != want {
			t.Fatalf("data = %s, want %s", got, want)
		}
	})

	t.Run("ErrReservedAttribute", func(t *testing.T) {
		bad := it
		bad.Data = json.RawMessage(`{"v":1}`)
		if _, err := streamimage.Image(bad); err == nil {
			t.Fatal("no error for data holding v")
		}
	})

	t.Run("ErrNotObject", func(t *testing.T) {
		bad := it
		bad.Data = json.RawMessage(`[1]`)
		if _, err := streamimage.Image(bad); err == nil {
			t.Fatal("no error for data that is no object")
		}
	})
}

func TestItem(t *testing.T) {
	t.Run("KeysOnly", func(t *testing.T) {
		it, err := streamimage.Item(streamimage.Keys(table.Key{PK: "p", SK: "s"}))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := it.Version, int64(0); got != want {
			t.Fatalf("version = %d, want %d", got, want)
		}
		if got, want := string(it.Data), `{}`; got != want {
			t.Fatalf("data = %s, want %s", got, want)
		}
	})
	t.Run("ErrNoKey", func(t *testing.T) {
		_, err := streamimage.Item(map[string]events.DynamoDBAttributeValue{"pk": events.NewStringAttribute("p")})
		if err == nil {
			t.Fatal("no error for an image without sk")
		}
	})
	t.Run("ErrSet", func(t *testing.T) {
		img := streamimage.Keys(table.Key{PK: "p", SK: "s"})
		img["tags"] = events.NewStringSetAttribute([]string{"a"})
		if _, err := streamimage.Item(img); err == nil {
			t.Fatal("no error for a string set")
		}
	})
	t.Run("ErrVersionNotNumber", func(t *testing.T) {
		img := streamimage.Keys(table.Key{PK: "p", SK: "s"})
		img["v"] = events.NewStringAttribute("1")
		if _, err := streamimage.Item(img); err == nil {
			t.Fatal("no error for a string version")
		}
	})
}

func TestChange(t *testing.T) {
	k := table.Key{PK: "T#demo#R#r1", SK: "REQUEST"}
	old := table.Item{Key: k, Version: 1, Data: json.RawMessage(`{"status":"pending_verification"}`)}
	newer := table.Item{Key: k, Version: 2, Data: json.RawMessage(`{"status":"verified"}`)}
	oldImg, err := streamimage.Image(old)
	if err != nil {
		t.Fatal(err)
	}
	newImg, err := streamimage.Image(newer)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 28, 16, 47, 0, 0, time.UTC)
	rec := events.DynamoDBEventRecord{
		EventID:   "e1",
		EventName: "MODIFY",
		Change: events.DynamoDBStreamRecord{
			ApproximateCreationDateTime: events.SecondsEpochTime{Time: at},
			Keys:                        streamimage.Keys(k),
			OldImage:                    oldImg,
			NewImage:                    newImg,
			SequenceNumber:              "000042",
			StreamViewType:              "NEW_AND_OLD_IMAGES",
		},
	}
	b, err := json.Marshal(events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{rec}})
	if err != nil {
		t.Fatal(err)
	}
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	c, err := streamimage.Change(ev.Records[0])
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Seq, "000042"; got != want {
		t.Fatalf("seq = %q, want %q", got, want)
	}
	if got, want := c.Event, table.EventModify; got != want {
		t.Fatalf("event = %q, want %q", got, want)
	}
	if got, want := c.Key, k; got != want {
		t.Fatalf("key = %v, want %v", got, want)
	}
	if !c.At.Equal(at) {
		t.Fatalf("at = %v, want %v", c.At, at)
	}
	if c.Old == nil || c.New == nil {
		t.Fatalf("old %v, new %v: want both", c.Old, c.New)
	}
	if got, want := string(c.New.Data), `{"status":"verified"}`; got != want {
		t.Fatalf("new data = %s, want %s", got, want)
	}
	if got, want := c.Old.Version, int64(1); got != want {
		t.Fatalf("old version = %d, want %d", got, want)
	}

	t.Run("Remove", func(t *testing.T) {
		rec := rec
		rec.EventName, rec.Change.NewImage = "REMOVE", nil
		c, err := streamimage.Change(rec)
		if err != nil {
			t.Fatal(err)
		}
		if c.New != nil || c.Old == nil {
			t.Fatalf("old %v, new %v: want old only", c.Old, c.New)
		}
	})
	t.Run("ErrNoKeys", func(t *testing.T) {
		rec := rec
		rec.Change.Keys = nil
		if _, err := streamimage.Change(rec); err == nil {
			t.Fatal("no error for a record without keys")
		}
	})
}

// canonical re-encodes JSON with sorted keys and numbers as written.
func canonical(t *testing.T, data []byte) string {
	t.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestItemErrBinary(t *testing.T) {
	for name, a := range map[string]events.DynamoDBAttributeValue{
		"Binary": events.NewBinaryAttribute([]byte("x")),
		"Zero":   {},
	} {
		img := streamimage.Keys(table.Key{PK: "p", SK: "s"})
		img["b"] = a
		if _, err := streamimage.Item(img); err == nil {
			t.Errorf("%s: no error for a binary attribute", name)
		}
	}
}
