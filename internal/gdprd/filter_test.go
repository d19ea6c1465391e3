package gdprd

import (
	"testing"
)

func TestFilter(t *testing.T) {
	record := `{"eventName":"MODIFY","eventSource":"aws:dynamodb","dynamodb":{
		"Keys":{"pk":{"S":"T#demo#R#r1"},"sk":{"S":"REQUEST"}},
		"NewImage":{"pk":{"S":"T#demo#R#r1"},"type":{"S":"access"},"status":{"S":"verified"},"n":{"N":"5"},"tags":{"L":[{"S":"a"},{"S":"b"}]}},
		"OldImage":{"status":{"S":"pending_verification"}}},
		"size":5,"flag":true,"nothing":null,"list":["x","y"]}`
	v, err := decodeJSON([]byte(record))
	if err != nil {
		t.Fatal(err)
	}
	ev := v.(map[string]any)
	for _, tc := range []struct {
		name, pattern string
		want          bool
	}{
		{"ExactString", `{"eventName":["MODIFY"]}`, true},
		{"ExactStringOther", `{"eventName":["INSERT"]}`, false},
		{"AnyOfList", `{"eventName":["INSERT","MODIFY"]}`, true},
		{"Nested", `{"dynamodb":{"NewImage":{"status":{"S":["verified"]}}}}`, true},
		{"NestedNoMatch", `{"dynamodb":{"NewImage":{"status":{"S":["completed"]}}}}`, false},
		{"AllFieldsMustMatch", `{"eventName":["MODIFY"],"dynamodb":{"NewImage":{"type":{"S":["erasure"]}}}}`, false},
		{"NestedAbsentObject", `{"dynamodb":{"Missing":{"x":{"S":["y"]}}}}`, false},
		{"Prefix", `{"dynamodb":{"Keys":{"pk":{"S":[{"prefix":"T#demo#R#"}]}}}}`, true},
		{"PrefixNoMatch", `{"dynamodb":{"Keys":{"pk":{"S":[{"prefix":"T#demo#S#"}]}}}}`, false},
		{"Suffix", `{"dynamodb":{"Keys":{"sk":{"S":[{"suffix":"QUEST"}]}}}}`, true},
		{"EqualsIgnoreCase", `{"eventName":[{"equals-ignore-case":"modify"}]}`, true},
		{"Wildcard", `{"dynamodb":{"Keys":{"pk":{"S":[{"wildcard":"T#*#R#*"}]}}}}`, true},
		{"WildcardNoMatch", `{"dynamodb":{"Keys":{"pk":{"S":[{"wildcard":"T#*#S#*"}]}}}}`, false},
		{"ExistsTrue", `{"dynamodb":{"OldImage":{"status":[{"exists":true}]}}}`, true},
		{"ExistsTrueAbsent", `{"dynamodb":{"OldImage":{"type":[{"exists":true}]}}}`, false},
		{"ExistsFalse", `{"dynamodb":{"OldImage":{"type":[{"exists":false}]}}}`, true},
		{"ExistsFalseInAbsentObject", `{"dynamodb":{"Missing":{"type":[{"exists":false}]}}}`, true},
		{"ExistsFalsePresent", `{"dynamodb":{"OldImage":{"status":[{"exists":false}]}}}`, false},
		{"AnythingBut", `{"dynamodb":{"OldImage":{"status":{"S":[{"anything-but":"verified"}]}}}}`, true},
		{"AnythingButSame", `{"dynamodb":{"NewImage":{"status":{"S":[{"anything-but":["verified","completed"]}]}}}}`, false},
		{"AnythingButAbsent", `{"dynamodb":{"NewImage":{"gone":{"S":[{"anything-but":"x"}]}}}}`, false},
		{"AnythingButPrefix", `{"eventName":[{"anything-but":{"prefix":"INS"}}]}`, true},
		{"NumberExact", `{"size":[5]}`, true},
		{"NumberExactFloat", `{"size":[5.0]}`, true},
		{"NumberIsNotString", `{"size":["5"]}`, false},
		{"StringIsNotNumber", `{"dynamodb":{"NewImage":{"n":{"N":[5]}}}}`, false},
		{"StringNumberAsWritten", `{"dynamodb":{"NewImage":{"n":{"N":["5"]}}}}`, true},
		{"Numeric", `{"size":[{"numeric":[">",1,"<=",5]}]}`, true},
		{"NumericOutside", `{"size":[{"numeric":["<",5]}]}`, false},
		{"Bool", `{"flag":[true]}`, true},
		{"BoolOther", `{"flag":[false]}`, false},
		{"Null", `{"nothing":[null]}`, true},
		{"NullAbsent", `{"absent":[null]}`, false},
		{"ArrayValueIntersects", `{"list":["y","z"]}`, true},
		{"ArrayValueDisjoint", `{"list":["z"]}`, false},
		{"ArrayInImage", `{"dynamodb":{"NewImage":{"tags":{"L":{"S":["b"]}}}}}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := compileFilter(tc.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.match(ev); got != tc.want {
				t.Fatalf("match = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCompileFilter(t *testing.T) {
	for _, tc := range []struct{ name, pattern string }{
		{"ErrNotJSON", `{`},
		{"ErrNotObject", `["a"]`},
		{"ErrScalarField", `{"eventName":"INSERT"}`},
		{"ErrEmptyList", `{"eventName":[]}`},
		{"ErrUnknownOperator", `{"eventName":[{"cidr":"10.0.0.0/8"}]}`},
		{"ErrTwoOperators", `{"eventName":[{"prefix":"a","suffix":"b"}]}`},
		{"ErrPrefixNotString", `{"eventName":[{"prefix":1}]}`},
		{"ErrExistsNotBool", `{"eventName":[{"exists":"yes"}]}`},
		{"ErrNumericOdd", `{"n":[{"numeric":[">"]}]}`},
		{"ErrNumericOperator", `{"n":[{"numeric":["!=",1]}]}`},
		{"ErrNested", `{"dynamodb":{"NewImage":"x"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := compileFilter(tc.pattern); err == nil {
				t.Fatal("no error")
			}
		})
	}
}
