package cmdutil

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mediatorhq/mediator/cmd/internal/iostreams"
	"github.com/mediatorhq/mediator/credentials"
)

// BinaryBlock is one piece of binary content of an answer: an image,
// audio, a blob resource.
type BinaryBlock struct {
	Index int    // in the answer's content
	Kind  string // "image", "audio", "resource": for messages
	MIME  string
	Data  []byte
}

// SaveBinary writes blocks where -o says: to the file path, or to stdout
// as they are for "-". Several blocks go to numbered files (out-1.png,
// out-2.png); stdout takes exactly one, and the caller has refused "-" on
// a terminal. Bytes that hold a secret value mediator knows are not saved
// anywhere. It returns the path each block was saved to, by Index.
func SaveBinary(ios *iostreams.IOStreams, red *credentials.Redactor, output string, blocks []BinaryBlock) (map[int]string, error) {
	if len(blocks) == 0 {
		return nil, nil
	}
	for _, b := range blocks {
		if red != nil && !bytes.Equal(red.RedactBytes(b.Data), b.Data) {
			return nil, Errorf(ExitUsage, "nothing saved: the %s holds a secret value from the keyring (the server echoed a credential)", b.Kind)
		}
	}
	if output == "-" {
		if len(blocks) > 1 {
			return nil, UsageErrorf("-o -: there are %d binary blocks and stdout takes one; name a file, e.g. -o out%s, to save each", len(blocks), Extension(blocks[0].MIME))
		}
		_, err := ios.RawOut.Write(blocks[0].Data)
		return map[int]string{blocks[0].Index: "stdout"}, err
	}
	saved := map[int]string{}
	for i, b := range blocks {
		path := output
		if len(blocks) > 1 {
			ext := filepath.Ext(path)
			path = fmt.Sprintf("%s-%d%s", strings.TrimSuffix(path, ext), i+1, ext)
		}
		if err := os.WriteFile(path, b.Data, 0o600); err != nil {
			return saved, Errorf(ExitUsage, "-o: saving the %s: %v", b.Kind, err)
		}
		saved[b.Index] = path
	}
	return saved, nil
}

// Extension suggests a file extension for a MIME type, for messages.
func Extension(mime string) string {
	_, sub, ok := strings.Cut(mime, "/")
	if !ok || sub == "" || strings.ContainsAny(sub, "+;. ") {
		return ".bin"
	}
	return "." + sub
}
