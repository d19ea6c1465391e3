package table

import "slices"

// Def is the shape of a table as the engines need it: its key and index attributes, its
// indexes, its stream view and its TTL attribute. template.yaml declares the service's table
// (ports.TableDef is that declaration as a Go value).
type Def struct {
	// AttributeTypes maps each key attribute to its DynamoDB type ("S", "N", "B").
	AttributeTypes map[string]string
	HashKey        string
	RangeKey       string
	Indexes        []IndexDef
	StreamView     string
	TTLAttribute   string
}

// IndexDef is one global secondary index.
type IndexDef struct {
	Name     string
	HashKey  string
	RangeKey string
	// Projection is ALL, KEYS_ONLY or INCLUDE.
	Projection string
}

// IndexKeyAttrs lists the attributes that key some secondary index, each once.
func (d Def) IndexKeyAttrs() []string {
	var names []string
	for _, ix := range d.Indexes {
		for _, name := range []string{ix.HashKey, ix.RangeKey} {
			if name != "" && !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	return names
}

// Index returns the index with the given name.
func (d Def) Index(name string) (IndexDef, bool) {
	for _, ix := range d.Indexes {
		if ix.Name == name {
			return ix, true
		}
	}
	return IndexDef{}, false
}
