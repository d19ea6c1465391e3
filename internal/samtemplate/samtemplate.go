// Package samtemplate reads the project's SAM template, the single source of the table's
// shape, the HTTP routes, the stream triggers and the schedules, so that the local server and
// the tests build exactly what AWS builds.
package samtemplate

import (
	"errors"
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/example/gdpr/internal/table"
)

// Template is the parsed template.yaml. CloudFormation short-form tags (!Ref, !Sub, ...) are
// kept as plain values: this package reads structure, it does not evaluate intrinsics.
type Template struct {
	Resources map[string]Resource `yaml:"Resources"`
	Globals   struct {
		Function yaml.Node `yaml:"Function"`
	} `yaml:"Globals"`

	// Filled by Parse from the AWS::Serverless::Function resources, sorted.
	functions []Function
	routes    []Route
	schedules []Schedule
	streams   []StreamTrigger
	// defaultRoute is the $default route, kept apart from routes; nil when there is none.
	defaultRoute *Route
}

// Resource is one resource of the template.
type Resource struct {
	Type       string    `yaml:"Type"`
	Properties yaml.Node `yaml:"Properties"`
}

// Parse reads a template. It reads every function and event up front, so a malformed route,
// schedule or stream trigger fails here, once, and the accessors cannot fail.
func Parse(src []byte) (*Template, error) {
	var t Template
	if err := yaml.Unmarshal(src, &t); err != nil {
		return nil, fmt.Errorf("samtemplate: %w", err)
	}
	if len(t.Resources) == 0 {
		return nil, errors.New("samtemplate: no resources")
	}
	if err := t.readFunctions(); err != nil {
		return nil, fmt.Errorf("samtemplate: %w", err)
	}
	return &t, nil
}

// TableDef is what the engines need to know of a DynamoDB table; the type lives with the
// table port so that the engines do not import this parser.
type TableDef = table.Def

// IndexDef is one global secondary index.
type IndexDef = table.IndexDef

type keySchema []struct {
	AttributeName string `yaml:"AttributeName"`
	KeyType       string `yaml:"KeyType"`
}

func (ks keySchema) split() (hash, rng string) {
	for _, k := range ks {
		switch k.KeyType {
		case "HASH":
			hash = k.AttributeName
		case "RANGE":
			rng = k.AttributeName
		}
	}
	return hash, rng
}

// Table returns the definition of the AWS::DynamoDB::Table with the given logical id.
func (t *Template) Table(logicalID string) (TableDef, error) {
	r, ok := t.Resources[logicalID]
	if !ok || r.Type != "AWS::DynamoDB::Table" {
		return TableDef{}, fmt.Errorf("samtemplate: no AWS::DynamoDB::Table named %s", logicalID)
	}
	var p struct {
		AttributeDefinitions []struct {
			AttributeName string `yaml:"AttributeName"`
			AttributeType string `yaml:"AttributeType"`
		} `yaml:"AttributeDefinitions"`
		KeySchema              keySchema `yaml:"KeySchema"`
		GlobalSecondaryIndexes []struct {
			IndexName  string    `yaml:"IndexName"`
			KeySchema  keySchema `yaml:"KeySchema"`
			Projection struct {
				ProjectionType string `yaml:"ProjectionType"`
			} `yaml:"Projection"`
		} `yaml:"GlobalSecondaryIndexes"`
		StreamSpecification struct {
			StreamViewType string `yaml:"StreamViewType"`
		} `yaml:"StreamSpecification"`
		TimeToLiveSpecification struct {
			AttributeName string `yaml:"AttributeName"`
			Enabled       bool   `yaml:"Enabled"`
		} `yaml:"TimeToLiveSpecification"`
	}
	if err := r.Properties.Decode(&p); err != nil {
		return TableDef{}, fmt.Errorf("samtemplate: table %s: %w", logicalID, err)
	}
	def := TableDef{AttributeTypes: map[string]string{}, StreamView: p.StreamSpecification.StreamViewType}
	for _, a := range p.AttributeDefinitions {
		def.AttributeTypes[a.AttributeName] = a.AttributeType
	}
	def.HashKey, def.RangeKey = p.KeySchema.split()
	if def.HashKey == "" {
		return TableDef{}, fmt.Errorf("samtemplate: table %s has no HASH key", logicalID)
	}
	for _, g := range p.GlobalSecondaryIndexes {
		ix := IndexDef{Name: g.IndexName, Projection: g.Projection.ProjectionType}
		ix.HashKey, ix.RangeKey = g.KeySchema.split()
		def.Indexes = append(def.Indexes, ix)
	}
	if p.TimeToLiveSpecification.Enabled {
		def.TTLAttribute = p.TimeToLiveSpecification.AttributeName
	}
	return def, nil
}
