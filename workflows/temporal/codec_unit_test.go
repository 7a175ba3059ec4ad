package temporal

import (
	"bytes"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/proto"
)

func TestCodecRoundTripAndTamper(t *testing.T) {
	if _, err := NewCodec("k", make([]byte, 16)); err == nil || !strings.Contains(err.Error(), "want 32") {
		t.Errorf("a 16-byte key: %v", err)
	}
	c, err := NewCodec("k1", bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	in := []*commonpb.Payload{{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`{"secret":"s3cr3t"}`)}}
	enc, err := c.Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(enc[0].Data, []byte("s3cr3t")) || string(enc[0].Metadata["encoding"]) != "binary/encrypted" {
		t.Fatalf("encoded: %v", enc[0])
	}
	dec, err := c.Decode(enc)
	if err != nil || !proto.Equal(dec[0], in[0]) {
		t.Fatalf("decoded %v, %v", dec, err)
	}
	// Payloads it did not encrypt pass through.
	if dec, err := c.Decode(in); err != nil || !proto.Equal(dec[0], in[0]) {
		t.Errorf("plain payload: %v, %v", dec, err)
	}
	tampered := proto.Clone(enc[0]).(*commonpb.Payload)
	tampered.Data[len(tampered.Data)-1] ^= 1
	if _, err := c.Decode([]*commonpb.Payload{tampered}); err == nil {
		t.Error("a tampered payload decoded")
	}
	relabelled := proto.Clone(enc[0]).(*commonpb.Payload)
	relabelled.Metadata["encryption-key-id"] = []byte("k2")
	if _, err := c.Decode([]*commonpb.Payload{relabelled}); err == nil || !strings.Contains(err.Error(), `"k2"`) {
		t.Errorf("a payload under another key: %v", err)
	}
}
