package blip

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/goformer/goformer/tokenizer"
)

// loadTokenizer loads the WordPiece tokenizer of a model directory (BLIP
// uses bert-base-uncased with [DEC] added), or returns nil when the
// directory has no tokenizer files.
func loadTokenizer(dir string) (*tokenizer.WordPiece, error) {
	found := false
	for _, name := range []string{"vocab.txt", "tokenizer.json"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			found = true
		}
	}
	if !found {
		return nil, nil
	}
	return tokenizer.LoadWordPiece(dir)
}

// errNoTokenizer is returned by the text-level calls of a model without a
// tokenizer.
var errNoTokenizer = errors.New("blip: no tokenizer: the model was not loaded from a directory with vocab.txt or tokenizer.json")

// encode tokenizes a prompt or question as BlipProcessor does:
// "[CLS] text [SEP]", special tokens written in the text recognised.
func (m *Model) encode(text string) ([]int, error) {
	if m.tok == nil {
		return nil, errNoTokenizer
	}
	ids, err := m.tok.TryEncode(text, tokenizer.EncodeOptions{AllSpecial: true})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	return ids, nil
}

// decode returns the text of generated ids with special tokens skipped.
func (m *Model) decode(ids []int) string {
	return m.tok.Decode(ids, true)
}
