package generate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

var inf = float32(math.Inf(-1))

// scores returns 0, 1, 2, … as scores, with the odd ones negated.
func scoresN(n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(i)
		if i%2 == 1 {
			s[i] = -s[i]
		}
	}
	return s
}

func TestProcessors(t *testing.T) {
	for _, c := range []struct {
		name string
		p    LogitsProcessor
		seq  []int
		want []float32 // from scoresN(6): 0 −1 2 −3 4 −5
	}{
		// Negative scores are multiplied, positive divided; a repeated
		// token is penalised once; ids outside the scores are ignored.
		{"repetition", RepetitionPenalty(2), []int{0, 1, 1, 4, 9}, []float32{0, -2, 2, -3, 2, -5}},
		{"repetition below 1", RepetitionPenalty(0.5), []int{2, 3}, []float32{0, -1, 4, -1.5, 4, -5}},
		{"repetition 1", RepetitionPenalty(1), []int{1, 2}, []float32{0, -1, 2, -3, 4, -5}},
		{"repetition 0", RepetitionPenalty(0), []int{1, 2}, []float32{0, -1, 2, -3, 4, -5}},
		// 2-grams: after "… 3", the tokens that followed 3 before (1, 2).
		{"2-gram", NoRepeatNGram(2), []int{3, 1, 0, 3, 2, 3}, []float32{0, inf, inf, -3, 4, -5}},
		{"3-gram", NoRepeatNGram(3), []int{3, 1, 4, 3, 1}, []float32{0, -1, 2, -3, inf, -5}},
		{"1-gram", NoRepeatNGram(1), []int{5, 0}, []float32{inf, -1, 2, -3, 4, inf}},
		{"n-gram longer than the text", NoRepeatNGram(4), []int{1, 1}, []float32{0, -1, 2, -3, 4, -5}},
		{"n-gram 0", NoRepeatNGram(0), []int{1, 1}, []float32{0, -1, 2, -3, 4, -5}},
		{"min length", MinLength{Min: 3, EOS: []int{2, 4}}, []int{0, 0}, []float32{0, -1, inf, -3, inf, -5}},
		{"min length reached", MinLength{Min: 3, EOS: []int{2, 4}}, []int{0, 0, 0}, []float32{0, -1, 2, -3, 4, -5}},
		{"min new tokens", MinNewTokens{PromptLength: 2, Min: 2, EOS: []int{5}}, []int{0, 0, 1}, []float32{0, -1, 2, -3, 4, inf}},
		{"min new tokens reached", MinNewTokens{PromptLength: 2, Min: 2, EOS: []int{5}}, []int{0, 0, 1, 1}, []float32{0, -1, 2, -3, 4, -5}},
		{"forced EOS", ForcedEOS{MaxLength: 4, EOS: []int{1, 3}}, []int{0, 0, 2}, []float32{inf, 0, inf, 0, inf, inf}},
		{"forced EOS elsewhere", ForcedEOS{MaxLength: 4, EOS: []int{1}}, []int{0, 0}, []float32{0, -1, 2, -3, 4, -5}},
		{"suppress", SuppressTokens{0, 4, 7}, []int{1}, []float32{inf, -1, 2, -3, inf, -5}},
		{"suppress at begin", SuppressTokensAtBegin{Begin: 2, Tokens: []int{1, 5, 9}}, []int{0, 3}, []float32{0, inf, 2, -3, 4, inf}},
		{"suppress after begin", SuppressTokensAtBegin{Begin: 2, Tokens: []int{1, 5}}, []int{0, 3, 2}, []float32{0, -1, 2, -3, 4, -5}},
	} {
		s := scoresN(6)
		c.p.Process(c.seq, s)
		if !slices.Equal(s, c.want) {
			t.Errorf("%s on %v: %v, want %v", c.name, c.seq, s, c.want)
		}
	}
}

// TestNoRepeatNGramMatchesReference compares the n-gram ban with the
// dictionary-based port of transformers on short sequences.
func TestNoRepeatNGramMatchesReference(t *testing.T) {
	seqs := [][]int{{1, 2, 3, 1, 2}, {5, 5, 5}, {1}, {4, 1, 4, 1, 4}, {}, {0, 1, 0, 1, 0, 1, 2, 0, 1}}
	for _, seq := range seqs {
		for n := 1; n <= 4; n++ {
			got := make([]float32, 7)
			want := make([]float32, 7)
			NoRepeatNGram(n).Process(seq, got)
			banNgramsRef(want, seq, n)
			if !slices.Equal(got, want) {
				t.Errorf("seq %v n %d: %v, want %v", seq, n, got, want)
			}
		}
	}
}

// TestOptionsProcessors checks that Options.Processors builds the
// processors in transformers' order by comparing with refProcess on random
// scores, sequences and options.
func TestOptionsProcessors(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 500; trial++ {
		vocab := 3 + r.IntN(6)
		plen := 1 + r.IntN(3)
		o := randomOptions(r, plen, vocab)
		seq := make([]int, plen+r.IntN(6))
		for i := range seq {
			seq[i] = r.IntN(vocab)
		}
		got := make([]float32, vocab)
		for i := range got {
			got[i] = float32(r.NormFloat64())
		}
		want := slices.Clone(got)
		o.Processors(plen).Process(seq, got)
		refProcess(want, seq, plen, refMaxLen(o, plen), o)
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d (%+v) on %v: %v, want %v", trial, o, seq, got, want)
		}
	}
	// Each option enables its processor, and nothing else.
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{}, "[]"},
		{Options{RepetitionPenalty: 1}, "[]"},
		{Options{MinLength: 3}, "[]"}, // no EOS: nothing to ban
		{Options{RepetitionPenalty: 1.2, NoRepeatNgramSize: 2, MinLength: 3, MinNewTokens: 1, EOS: []int{1}, ForcedEOS: []int{1}, MaxNewTokens: 4, SuppressTokens: []int{5}, BeginSuppressTokens: []int{1}},
			"[generate.RepetitionPenalty generate.NoRepeatNGram generate.MinLength generate.MinNewTokens generate.ForcedEOS generate.SuppressTokens generate.SuppressTokensAtBegin]"},
	} {
		var types []string
		for _, p := range c.o.Processors(2) {
			types = append(types, fmt.Sprintf("%T", p))
		}
		if got := fmt.Sprint(types); got != c.want {
			t.Errorf("%+v: %s, want %s", c.o, got, c.want)
		}
	}
	if f := (Options{MaxLength: 9, MaxNewTokens: 4, ForcedEOS: []int{1}}).Processors(2)[0].(ForcedEOS); f.MaxLength != 6 {
		t.Errorf("forced EOS at max length %d, want 6 (2 prompt + 4 new tokens)", f.MaxLength)
	}
}
