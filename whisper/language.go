package whisper

import (
	"context"
	"fmt"
	"math"

	"github.com/goformer/goformer/tensor"
)

// LanguageProb is one language and its probability.
type LanguageProb struct {
	Language    string  `json:"language"`
	Probability float64 `json:"probability"`
}

// languageLogits runs the decoder on <|startoftranscript|> for every row of
// the audio features and returns the raw logits [V] of each row (on the
// host) and the probability of every language (softmax over the language
// tokens only, as OpenAI's detect_language does).
//
//goformer:host the language probabilities are a softmax over the downloaded logits of the language tokens.
func (m *Model) languageLogits(ctx context.Context, enc *tensor.Tensor) ([]*tensor.Tensor, []map[string]float64, error) {
	tok := m.specials()
	if !tok.Multilingual || len(tok.Languages) == 0 {
		return nil, nil, fmt.Errorf("whisper: this model has no language tokens, so it cannot detect the language")
	}
	dec, err := m.NewDecoder(enc)
	if err != nil {
		return nil, nil, err
	}
	defer dec.Release() // its keys and values serve the next decoder
	b := enc.Dim(0)
	rows := make([][]int, b)
	for i := range rows {
		rows[i] = []int{tok.SOT}
	}
	h, err := dec.Forward(ctx, rows, nil)
	if err != nil {
		return nil, nil, err
	}
	l, err := m.positionLogits(h, 0)
	tensor.Release(h)
	if err != nil {
		return nil, nil, err
	}
	hl, err := download(l)
	if err != nil {
		return nil, nil, err
	}
	v := hl.Dim(1)
	ld := hl.Data()
	var out []*tensor.Tensor
	var probs []map[string]float64
	for i := 0; i < b; i++ {
		row := append([]float32(nil), ld[i*v:(i+1)*v]...)
		out = append(out, tensor.MustFromData(row, v))
		probs = append(probs, languageProbs(row, tok))
	}
	tensor.Release(hl)
	return out, probs, nil
}

// languageProbs is the softmax of logits restricted to language tokens.
func languageProbs(logits []float32, tok *Tokenizer) map[string]float64 {
	n := len(tok.Languages)
	sub := make([]float32, n)
	copy(sub, logits[tok.LanguageBase:tok.LanguageBase+n])
	mx := float32(math.Inf(-1))
	for _, v := range sub {
		mx = max(mx, v)
	}
	var sum float32
	for i, v := range sub {
		e := float32(math.Exp(float64(v - mx)))
		sub[i] = e
		sum += e
	}
	p := make(map[string]float64, n)
	for i, c := range tok.Languages {
		p[c] = float64(sub[i] / sum)
	}
	return p
}
