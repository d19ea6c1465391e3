// Package awsconfig loads the AWS SDK's configuration for the adapters that need it, once
// per process environment. Only the adapter packages import it, so a function that declares
// no AWS adapter (MetaFunction) links none of the SDK's configuration chain (SSO, STS,
// IMDS, ...).
package awsconfig

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

var (
	mu     sync.Mutex
	loaded = map[string]aws.Config{}
)

// Load returns the SDK's configuration: from the environment and the shared files, so
// AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> point every client at an emulator. The
// adapters of one function share it (one credential cache, one HTTP client); it is loaded
// again only for another environment, as tests that start their own emulator have. It calls
// no AWS service: credentials are resolved on the first request.
func Load() (aws.Config, error) {
	key := strings.Join(os.Environ(), "\x00")
	mu.Lock()
	defer mu.Unlock()
	if cfg, ok := loaded[key]; ok {
		return cfg, nil
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		return aws.Config{}, fmt.Errorf("awsconfig: %w", err)
	}
	loaded[key] = cfg
	return cfg, nil
}
