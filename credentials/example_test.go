package credentials_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/mediatorhq/mediator/credentials"
)

// Open a passphrase-encrypted file keyring, store one server's credential
// and read it back the way a connector does: through a view scoped to that
// server.
func Example() {
	dir, err := os.MkdirTemp("", "mediator-keyring-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	store, err := credentials.Open(ctx, credentials.Options{
		Backend: credentials.BackendFile,
		FileDir: dir,
		// A CLI reads MEDIATOR_KEYRING_PASSPHRASE or prompts without echo.
		Passphrase: func(prompt string) (string, error) { return "correct horse battery staple", nil },
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := store.Set("weather", "api-key", credentials.NewSecret("wk-0123456789")); err != nil {
		log.Fatal(err)
	}

	secret, err := store.ForServer("weather").Secret(ctx, "api-key")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("printed:", secret)
	fmt.Println("sent on the wire:", len(secret.Reveal()), "characters")
	fmt.Println("masked in logs:", store.Redactor().Redact("key=wk-0123456789"))

	_, err = store.ForServer("calendar").Secret(ctx, "api-key")
	fmt.Println(errors.Is(err, credentials.ErrNotFound))

	items, _ := store.List("")
	fmt.Println(store.Backend(), items)
	// Output:
	// printed: [REDACTED]
	// sent on the wire: 13 characters
	// masked in logs: key=[REDACTED]
	// true
	// file [{weather api-key}]
}
