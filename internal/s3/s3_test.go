package s3_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/example/gdpr/internal/mototest"
	"github.com/example/gdpr/internal/objects"
	"github.com/example/gdpr/internal/objects/objectstest"
	s3store "github.com/example/gdpr/internal/s3"
)

const kmsKeyID = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"

// TestStore runs every case against one moto_server, each case in a bucket of its own.
func TestStore(t *testing.T) {
	moto := mototest.Start(t)
	client := awss3.NewFromConfig(moto.Config(t), func(o *awss3.Options) { o.UsePathStyle = true })
	buckets := 0
	newBucket := func(t *testing.T) string {
		t.Helper()
		buckets++
		name := fmt.Sprintf("exports-%d", buckets)
		if _, err := client.CreateBucket(context.Background(), &awss3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
			t.Fatalf("CreateBucket: %v", err)
		}
		return name
	}

	t.Run("Conformance", func(t *testing.T) {
		objectstest.Run(t, func(t *testing.T) objects.Store {
			return s3store.New(client, newBucket(t), kmsKeyID)
		})
	})

	t.Run("EncryptedWithKMS", func(t *testing.T) {
		ctx := context.Background()
		for name, tc := range map[string]struct {
			keyID     string
			size      int64
			multipart bool
		}{
			"GivenKey":          {kmsKeyID, 1 << 10, false},
			"GivenKeyMultipart": {kmsKeyID, objectstest.StreamSize, true},
			"BucketDefaultKey":  {"", 1 << 10, false},
		} {
			t.Run(name, func(t *testing.T) {
				bucket := newBucket(t)
				st := s3store.New(client, bucket, tc.keyID)
				if err := st.Put(ctx, "exports/t1/req_1/export.zip", "application/zip", objectstest.Stream(tc.size)); err != nil {
					t.Fatalf("Put: %v", err)
				}
				head, err := client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("exports/t1/req_1/export.zip")})
				if err != nil {
					t.Fatalf("HeadObject: %v", err)
				}
				if got, want := head.ServerSideEncryption, types.ServerSideEncryptionAwsKms; got != want {
					t.Fatalf("ServerSideEncryption = %q, want %q", got, want)
				}
				if tc.keyID != "" {
					if got := aws.ToString(head.SSEKMSKeyId); !strings.HasSuffix(got, tc.keyID) && !strings.HasSuffix(tc.keyID, got) {
						t.Fatalf("SSEKMSKeyId = %q, want %q", got, tc.keyID)
					}
				}
				if got, want := aws.ToInt64(head.ContentLength), tc.size; got != want {
					t.Fatalf("ContentLength = %d, want %d", got, want)
				}
				// A multipart upload's ETag ends in -<number of parts>.
				if got, want := strings.Contains(aws.ToString(head.ETag), "-"), tc.multipart; got != want {
					t.Fatalf("ETag %s: multipart %v, want %v", aws.ToString(head.ETag), got, want)
				}
			})
		}
	})

	t.Run("FailedMultipartLeavesNoUpload", func(t *testing.T) {
		ctx := context.Background()
		bucket := newBucket(t)
		st := s3store.New(client, bucket, kmsKeyID)
		r := io.MultiReader(objectstest.Stream(objectstest.StreamSize), failingReader{})
		if err := st.Put(ctx, "exports/t1/req_1/export.zip", "application/zip", r); err == nil {
			t.Fatal("Put from a failing reader: no error")
		}
		out, err := client.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
		if err != nil {
			t.Fatalf("ListMultipartUploads: %v", err)
		}
		if n := len(out.Uploads); n != 0 {
			t.Fatalf("%d multipart uploads left open, want them aborted", n)
		}
	})

	t.Run("URLIsPresigned", func(t *testing.T) {
		ctx := context.Background()
		st := s3store.New(client, newBucket(t), kmsKeyID)
		link, err := st.URL(ctx, "exports/t1/req_1/export.zip", 7*24*time.Hour)
		if err != nil {
			t.Fatalf("URL: %v", err)
		}
		for _, want := range []string{"X-Amz-Signature=", "X-Amz-Expires=604800"} {
			if !strings.Contains(link, want) {
				t.Errorf("link lacks %s", want)
			}
		}
		// A link to an absent object: S3 answers 404 (moto checks no signature, see TOOLING.md).
		resp, err := http.Get(link)
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		resp.Body.Close()
		if got, want := resp.StatusCode, http.StatusNotFound; got != want {
			t.Fatalf("status %d, want %d", got, want)
		}
	})

	t.Run("MissingBucket", func(t *testing.T) {
		st := s3store.New(client, "no-such-bucket", "")
		_, err := st.Get(context.Background(), "a")
		if err == nil || errors.Is(err, objects.ErrNotFound) {
			t.Fatalf("err = %v, want an error other than ErrNotFound", err)
		}
	})
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }
