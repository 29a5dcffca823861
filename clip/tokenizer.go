package clip

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/goformer/goformer/tokenizer"
)

// textTokenizer turns texts into CLIP token ids and attention masks.
type textTokenizer interface {
	encode(texts []string) (ids, mask [][]int, err error)
}

// clipTokenizer adapts tokenizer.CLIP: special tokens written in the text
// are recognised (transformers' default, and OpenAI's simple_tokenizer),
// sequences are framed, truncated to the context with the end token kept,
// and padded to the longest with the end token (CLIP's pad token).
type clipTokenizer struct {
	tok    *tokenizer.CLIP
	maxLen int
}

func (c *clipTokenizer) encode(texts []string) (ids, mask [][]int, err error) {
	ids = make([][]int, len(texts))
	width := 0
	for i, s := range texts {
		ids[i] = c.tok.EncodeWith(s, tokenizer.EncodeOptions{AllSpecial: true, MaxLen: c.maxLen})
		width = max(width, len(ids[i]))
	}
	mask = make([][]int, len(texts))
	for i, row := range ids {
		m := make([]int, width)
		padded := make([]int, width)
		copy(padded, row)
		for j := range padded {
			if j < len(row) {
				m[j] = 1
			} else {
				padded[j] = c.tok.EndID()
			}
		}
		ids[i], mask[i] = padded, m
	}
	return ids, mask, nil
}

// loadTokenizer loads the CLIP tokenizer files of dir (vocab.json and
// merges.txt, or tokenizer.json). Their absence is ErrNoTokenizer.
func loadTokenizer(dir string, maxLen int) (textTokenizer, error) {
	found := false
	for _, f := range []string{"vocab.json", "tokenizer.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			found = true
		}
	}
	if !found {
		return nil, fmt.Errorf("%w: no vocab.json or tokenizer.json in %s", ErrNoTokenizer, dir)
	}
	tok, err := tokenizer.LoadCLIP(dir)
	if err != nil {
		return nil, fmt.Errorf("clip: tokenizer: %w", err)
	}
	n := tok.MaxLen()
	if n <= 0 || n > maxLen {
		n = maxLen
	}
	if tok.VocabSize() <= 0 {
		return nil, errors.New("clip: tokenizer has an empty vocabulary")
	}
	return &clipTokenizer{tok: tok, maxLen: n}, nil
}
