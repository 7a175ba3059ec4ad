package argcheck

import "github.com/mediatorhq/mediator/internal/suggest"

// Suggest returns up to three known names close to name, closest first, so
// a typo gets a "did you mean". It is suggest.Ranked, kept here because
// callers already check arguments through this package.
func Suggest(name string, known []string) []string { return suggest.Ranked(name, known) }

// DidYouMean renders suggestions as a sentence tail, or "".
func DidYouMean(s []string) string { return suggest.DidYouMean(s) }
