package tokenizer

import (
	"slices"
	"testing"
)

// TestWordPieceConfig checks tokenizer_config.json settings: newer
// transformers' added_tokens_decoder, do_lower_case and strip_accents.
func TestWordPieceConfig(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nhéllo\nHello\n!\n")
	writeFile(t, dir, "tokenizer_config.json", `{"do_lower_case": false, "added_tokens_decoder": {"9": {"content": "[NEW]", "special": true}, "1": {"content": "[UNK]", "special": true}}}`)
	tok := mustLoad(t, LoadWordPiece, dir)
	if id, ok := tok.ID("[NEW]"); !ok || id != 9 || !tok.IsSpecial(9) || tok.VocabSize() != 10 {
		t.Errorf("[NEW] = %d %v, VocabSize %d", id, ok, tok.VocabSize())
	}
	eqIDs(t, "cased", tok.EncodeWith("Hello héllo[NEW]!", EncodeOptions{AllSpecial: true}), []int{2, 7, 6, 9, 8, 3})
	eqIDs(t, "not allowed", tok.EncodePlain("[NEW]"), []int{1, 1, 1})
	if got := tok.Decode([]int{2, 7, 6, 9, 8, 3}, true); got != "Hello héllo!" {
		t.Errorf("Decode = %q", got)
	}
	ids, mask := tok.EncodeBatch([]string{"hello", "Hello hello hello"}, 4)
	if !slices.Equal(ids[0], []int{2, 5, 3, 0}) || !slices.Equal(mask[0], []int{1, 1, 1, 0}) || !slices.Equal(ids[1], []int{2, 7, 5, 3}) {
		t.Errorf("EncodeBatch = %v %v", ids, mask)
	}
	// A word of more than 100 characters is [UNK].
	long := "h"
	for len(long) <= 100 {
		long += "h"
	}
	eqIDs(t, "long word", tok.EncodePlain(long), []int{1})
}
