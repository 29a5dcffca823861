package whisper

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/goformer/goformer/task"
	"github.com/goformer/goformer/transcript"

	"github.com/goformer/goformer/internal/zlibref"
	"github.com/goformer/goformer/tensor"
)

// DecodingOptions configure the decoding of one 30-second window, as
// OpenAI's DecodingOptions do. The zero value is OpenAI's default: greedy
// transcription at temperature 0 with timestamps, language detection,
// blank and non-speech suppression, max_initial_timestamp 1 s.
type DecodingOptions struct {
	// Task is "transcribe" (default, "" too) or "translate" (to English).
	Task string `json:"task,omitempty"`
	// Language is a code ("en", "fr") or English name; "" detects it from
	// the audio.
	Language string `json:"language,omitempty"`

	// Temperature > 0 samples; 0 is greedy (or beam search).
	Temperature float64 `json:"temperature"`
	// SampleLen is the maximum number of tokens to sample; 0 means half
	// the decoder context (224).
	SampleLen int `json:"sample_len,omitempty"`
	// BestOf is the number of independent samples at temperature > 0
	// (0: one); at most generate.MaxBeams.
	BestOf int `json:"best_of,omitempty"`
	// BeamSize > 0 selects beam search at temperature 0; at most
	// generate.MaxBeams.
	BeamSize int `json:"beam_size,omitempty"`
	// Patience scales the number of finished candidates beam search
	// collects (arXiv:2204.05424); 0 means 1.0.
	Patience float64 `json:"patience,omitempty"`
	// LengthPenalty, when set, ranks candidates by
	// logprob / ((5+length)/6)^alpha (Google NMT); nil ranks by
	// logprob / length.
	LengthPenalty *float64 `json:"length_penalty,omitempty"`

	// Prompt tokens (previous text) are fed after <|startofprev|>;
	// PromptText is encoded as " "+strings.TrimSpace(text) when Prompt is
	// empty. Both are cut to the last n_text_ctx/2−1 tokens.
	Prompt     []int  `json:"prompt,omitempty"`
	PromptText string `json:"prompt_text,omitempty"`
	// Prefix tokens (or PrefixText) start the current window's text.
	Prefix     []int  `json:"prefix,omitempty"`
	PrefixText string `json:"prefix_text,omitempty"`

	// SuppressTokens lists ids never sampled; -1 in the list stands for
	// the non-speech symbol set of the tokenizer. nil means the
	// suppress_tokens of generation_config.json when it has them, else
	// [-1]. The task, start-of-transcript, start-of-prev, start-of-LM and
	// no-speech tokens are always added.
	SuppressTokens []int `json:"suppress_tokens,omitempty"`
	// NoSuppressTokens disables SuppressTokens entirely (OpenAI's
	// suppress_tokens="").
	NoSuppressTokens bool `json:"no_suppress_tokens,omitempty"`
	// NoSuppressBlank allows a blank or <|endoftext|> as the first sampled
	// token (OpenAI's suppress_blank=False).
	NoSuppressBlank bool `json:"no_suppress_blank,omitempty"`

	// WithoutTimestamps decodes text only, after <|notimestamps|>.
	WithoutTimestamps bool `json:"without_timestamps,omitempty"`
	// MaxInitialTimestamp bounds the first timestamp, in seconds; nil means
	// 1.0 and a pointer to 0 means no bound.
	MaxInitialTimestamp *float64 `json:"max_initial_timestamp,omitempty"`

	// Seed seeds the sampler used at temperature > 0.
	Seed uint64 `json:"seed,omitempty"`
}

// DecodingResult is the outcome of decoding one window.
type DecodingResult struct {
	// Language is the language code used (detected when not given).
	Language string `json:"language"`
	// LanguageProbs holds the detection probabilities when the language
	// was detected.
	LanguageProbs map[string]float64 `json:"language_probs,omitempty"`
	// Tokens are the sampled ids, without the initial tokens and <|eot|>.
	Tokens []int `json:"tokens"`
	// Text is the decoded text, trimmed.
	Text string `json:"text"`
	// AvgLogprob is the sum of the sampled tokens' log-probabilities over
	// (number of tokens + 1).
	AvgLogprob float64 `json:"avg_logprob"`
	// NoSpeechProb is the probability of <|nospeech|> at the
	// start-of-transcript position.
	NoSpeechProb float64 `json:"no_speech_prob"`
	// Temperature is the sampling temperature used.
	Temperature float64 `json:"temperature"`
	// CompressionRatio is the gzip (zlib) compression ratio of Text.
	CompressionRatio float64 `json:"compression_ratio"`
}

// ErrNoTokenizer is returned by calls that need text (prompts, decoded
// text, suppression sets) on a model loaded without tokenizer files.
var ErrNoTokenizer = errors.New("whisper: model has no tokenizer")

// ErrInput is matched (errors.Is) by the errors of options and inputs the
// model cannot take; it matches task.ErrInput too.
var ErrInput = task.NewInputError("whisper: invalid input")

// Decode decodes 30-second log-mel windows [n_mels, frames] or [batch,
// n_mels, frames] with OpenAI's DecodingTask and returns one result per
// window. Windows of a batch are decoded together.
func (m *Model) Decode(ctx context.Context, mel *tensor.Tensor, opt DecodingOptions) ([]DecodingResult, error) {
	if err := checkGroup(opt.BeamSize, opt.BestOf); err != nil {
		return nil, err // before the encoder runs
	}
	enc, err := m.Encode(ctx, mel)
	if err != nil {
		return nil, err
	}
	defer tensor.Release(enc)
	return m.DecodeFeatures(ctx, enc, opt)
}

// DecodeFeatures is Decode on audio features already computed by Encode.
func (m *Model) DecodeFeatures(ctx context.Context, enc *tensor.Tensor, opt DecodingOptions) ([]DecodingResult, error) {
	task, err := m.newDecodeTask(opt)
	if err != nil {
		return nil, err
	}
	return task.run(ctx, enc)
}

// logitFilter masks logits rows in place given the tokens so far.
type logitFilter interface {
	apply(logits [][]float32, tokens [][]int)
}

type decodeTask struct {
	m           *Model
	tok         *Tokenizer
	opt         DecodingOptions
	nGroup      int
	nCtx        int
	sampleLen   int
	initial     []int
	sampleBegin int
	sotIndex    int
	filters     []logitFilter
	rng         *rand.Rand
}

var ninf = float32(math.Inf(-1))

func (m *Model) newDecodeTask(opt DecodingOptions) (*decodeTask, error) {
	if err := checkGroup(opt.BeamSize, opt.BestOf); err != nil {
		return nil, err
	}
	tok := m.specials()
	if opt.Task == "" {
		opt.Task = "transcribe"
	}
	if opt.Task != "transcribe" && opt.Task != "translate" {
		return nil, fmt.Errorf("%w: unknown task %q (want transcribe or translate)", ErrInput, opt.Task)
	}
	if opt.BeamSize < 0 || opt.BestOf < 0 || opt.SampleLen < 0 {
		return nil, fmt.Errorf("%w: negative beam_size, best_of or sample_len", ErrInput)
	}
	if opt.BeamSize > 0 && opt.BestOf > 0 {
		return nil, fmt.Errorf("%w: beam_size and best_of can't be given together", ErrInput)
	}
	if opt.Temperature == 0 && opt.BestOf > 0 {
		return nil, fmt.Errorf("%w: best_of with greedy sampling (T=0) is not compatible", ErrInput)
	}
	if opt.Temperature < 0 || math.IsNaN(opt.Temperature) {
		return nil, fmt.Errorf("%w: temperature %v must be ≥ 0", ErrInput, opt.Temperature)
	}
	if opt.Patience != 0 && opt.BeamSize == 0 {
		return nil, fmt.Errorf("%w: patience requires beam_size to be given", ErrInput)
	}
	if opt.LengthPenalty != nil && !(*opt.LengthPenalty >= 0 && *opt.LengthPenalty <= 1) {
		return nil, fmt.Errorf("%w: length_penalty (alpha) should be a value between 0 and 1", ErrInput)
	}
	t := &decodeTask{m: m, tok: tok, opt: opt}
	t.nGroup = max(opt.BeamSize, opt.BestOf, 1)
	t.nCtx = m.Config.MaxTargetPositions
	t.sampleLen = opt.SampleLen
	if t.sampleLen == 0 {
		t.sampleLen = t.nCtx / 2
	}
	lang := opt.Language
	if lang == "" {
		lang = "en"
	}
	sot, err := tok.SOTSequence(lang, opt.Task)
	if err != nil {
		return nil, err
	}
	if opt.WithoutTimestamps {
		sot = append(sot, tok.NoTimestamps)
	}
	initial := append([]int(nil), sot...)
	prefix := opt.Prefix
	if len(prefix) == 0 && opt.PrefixText != "" {
		if prefix, err = tok.Encode(" " + strings.TrimSpace(opt.PrefixText)); err != nil {
			return nil, err
		}
	}
	if len(prefix) > 0 {
		// prefix_tokens[-(n_ctx//2 - sample_len):], Python slicing included
		initial = append(initial, pyTail(prefix, t.nCtx/2-t.sampleLen)...)
	}
	prompt := opt.Prompt
	if len(prompt) == 0 && opt.PromptText != "" {
		if prompt, err = tok.Encode(" " + strings.TrimSpace(opt.PromptText)); err != nil {
			return nil, err
		}
	}
	if len(prompt) > 0 {
		initial = append(append([]int{tok.SOTPrev}, pyTail(prompt, t.nCtx/2-1)...), initial...)
	}
	for _, id := range initial {
		if id < 0 || id >= m.Config.VocabSize {
			return nil, fmt.Errorf("whisper: prompt/prefix token %d outside the vocabulary", id)
		}
	}
	t.initial = initial
	t.sampleBegin = len(initial)
	for i, id := range initial {
		if id == tok.SOT {
			t.sotIndex = i
			break
		}
	}
	if len(initial) >= t.nCtx {
		return nil, fmt.Errorf("whisper: %d initial tokens leave no room in the decoder context of %d", len(initial), t.nCtx)
	}

	// logit filters, in OpenAI's order
	if !opt.NoSuppressBlank {
		blank, err := m.beginSuppressTokens()
		if err != nil {
			return nil, err
		}
		t.filters = append(t.filters, &suppressBlank{tokens: blank, sampleBegin: t.sampleBegin})
	}
	if !opt.NoSuppressTokens {
		ids, err := m.suppressTokens(opt.SuppressTokens)
		if err != nil {
			return nil, err
		}
		t.filters = append(t.filters, suppressTokens(ids))
	}
	if !opt.WithoutTimestamps {
		precision := 30.0 / float64(m.Config.MaxSourcePositions)
		maxIdx := -1
		mit := 1.0
		if opt.MaxInitialTimestamp != nil {
			mit = *opt.MaxInitialTimestamp
		}
		if mit > 0 && !math.IsNaN(mit) {
			maxIdx = int(math.RoundToEven(mit / precision))
		}
		t.filters = append(t.filters, &timestampRules{tok: tok, sampleBegin: t.sampleBegin, maxInitialIndex: maxIdx})
	}
	if opt.Temperature > 0 {
		t.rng = rand.New(rand.NewPCG(opt.Seed, 0x9e3779b97f4a7c15))
	}
	return t, nil
}

// pyTail is Python's s[-k:]: the last k elements for k > 0, everything for
// k == 0, and s without its first −k elements for k < 0.
func pyTail(s []int, k int) []int {
	switch {
	case k > 0:
		return s[len(s)-min(k, len(s)):]
	case k == 0:
		return s
	default:
		return s[min(-k, len(s)):]
	}
}

// beginSuppressTokens returns the ids SuppressBlank masks at the first
// sampled position: generation_config's begin_suppress_tokens, else
// encode(" ") + [eot].
func (m *Model) beginSuppressTokens() ([]int, error) {
	if m.Generation.BeginSuppressTokens != nil {
		return m.Generation.BeginSuppressTokens, nil
	}
	tok := m.specials()
	if !tok.HasText() {
		// " " is token 220 in every Whisper vocabulary
		return []int{220, tok.EOT}, nil
	}
	sp, err := tok.Encode(" ")
	if err != nil {
		return nil, err
	}
	return append(sp, tok.EOT), nil
}

// suppressTokens resolves the SuppressTokens option as OpenAI's
// _get_suppress_tokens does.
func (m *Model) suppressTokens(list []int) ([]int, error) {
	tok := m.specials()
	if list == nil {
		if m.Generation.SuppressTokens != nil {
			list = m.Generation.SuppressTokens
		} else if m.Config.SuppressTokens != nil && !m.HasGenerationConfig {
			list = m.Config.SuppressTokens
		} else {
			list = []int{-1}
		}
	}
	set := map[int]bool{}
	nonSpeech := false
	for _, id := range list {
		if id == -1 {
			nonSpeech = true
		} else if id >= 0 {
			set[id] = true
		}
	}
	if nonSpeech {
		ns, err := tok.NonSpeechTokens()
		if err != nil {
			return nil, fmt.Errorf("whisper: suppress_tokens -1 needs the tokenizer: %w", err)
		}
		for _, id := range ns {
			set[id] = true
		}
	}
	for _, id := range []int{tok.Transcribe, tok.Translate, tok.SOT, tok.SOTPrev, tok.SOTLM} {
		set[id] = true
	}
	if tok.NoSpeech >= 0 {
		set[tok.NoSpeech] = true
	}
	out := make([]int, 0, len(set))
	for id := range set {
		if id < m.Config.VocabSize {
			out = append(out, id)
		}
	}
	sort.Ints(out)
	return out, nil
}

type suppressBlank struct {
	tokens      []int
	sampleBegin int
}

func (s *suppressBlank) apply(logits [][]float32, tokens [][]int) {
	if len(tokens[0]) != s.sampleBegin {
		return
	}
	for _, row := range logits {
		for _, id := range s.tokens {
			if id >= 0 && id < len(row) {
				row[id] = ninf
			}
		}
	}
}

type suppressTokens []int

func (s suppressTokens) apply(logits [][]float32, tokens [][]int) {
	for _, row := range logits {
		for _, id := range s {
			row[id] = ninf
		}
	}
}

// timestampRules is OpenAI's ApplyTimestampRules.
type timestampRules struct {
	tok             *Tokenizer
	sampleBegin     int
	maxInitialIndex int       // -1: none
	scratch         []float32 // log-probabilities of one row
}

func (r *timestampRules) apply(logits [][]float32, tokens [][]int) {
	tb, eot := r.tok.TimestampBegin, r.tok.EOT
	for k, row := range logits {
		// <|notimestamps|> is handled by WithoutTimestamps
		if r.tok.NoTimestamps >= 0 && r.tok.NoTimestamps < len(row) {
			row[r.tok.NoTimestamps] = ninf
		}
		seq := tokens[k][r.sampleBegin:]
		lastTS := len(seq) >= 1 && seq[len(seq)-1] >= tb
		penultimateTS := len(seq) < 2 || seq[len(seq)-2] >= tb
		// timestamps have to appear in pairs, except directly before EOT
		if lastTS {
			if penultimateTS { // has to be non-timestamp
				fill(row[tb:], ninf)
			} else { // cannot be normal text tokens
				fill(row[:eot], ninf)
			}
		}
		lastTimestamp := -1
		for _, id := range seq {
			if id >= tb {
				lastTimestamp = id
			}
		}
		if lastTimestamp >= 0 {
			// timestamps shouldn't decrease; forbid timestamp tokens smaller
			// than the last; also force each segment to have a nonzero length
			limit := lastTimestamp + 1
			if lastTS && !penultimateTS {
				limit = lastTimestamp
			}
			fill(row[tb:min(limit, len(row))], ninf)
		}
	}
	if len(tokens[0]) == r.sampleBegin {
		for _, row := range logits {
			// suppress generating non-timestamp tokens at the beginning
			fill(row[:tb], ninf)
			if r.maxInitialIndex >= 0 {
				last := tb + r.maxInitialIndex
				if last+1 < len(row) {
					fill(row[last+1:], ninf)
				}
			}
		}
	}
	// if the probability mass of timestamps exceeds every text token's,
	// sample a timestamp
	for _, row := range logits {
		lp := logSoftmax32(row, &r.scratch)
		tsLogprob := logSumExp(lp[tb:])
		maxText := ninf
		for _, v := range lp[:tb] {
			if v > maxText {
				maxText = v
			}
		}
		if tsLogprob > float64(maxText) {
			fill(row[:tb], ninf)
		}
	}
}

func fill(s []float32, v float32) {
	for i := range s {
		s[i] = v
	}
}

// logSumExp returns log Σ exp(x) in float64 (−Inf for an empty or all −Inf
// row).
func logSumExp(x []float32) float64 {
	m32 := ninf
	for _, v := range x {
		if v > m32 {
			m32 = v
		}
	}
	mx := float64(m32)
	if math.IsInf(mx, -1) {
		return mx
	}
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v) - mx)
	}
	return mx + math.Log(s)
}

// lastLogits returns the logits at position pos of every row of h
// [B, T, D] (projected in one product on the model's device, then
// downloaded) as slices of dst (grown when short), and the host tensor
// holding them, to be released once the slices are no longer used.
//
//goformer:host the decoding rules (suppression, timestamp rules, beam search, sampling) read the next-token logits on the host.
func (m *Model) lastLogits(h *tensor.Tensor, pos int, dst [][]float32) ([][]float32, *tensor.Tensor, error) {
	l, err := m.positionLogits(h, pos)
	if err != nil {
		return nil, nil, err
	}
	hl, err := download(l)
	if err != nil {
		return nil, nil, err
	}
	ld := hl.Data()
	v := hl.Dim(1)
	out := dst[:0]
	for b := 0; b < hl.Dim(0); b++ {
		out = append(out, ld[b*v:(b+1)*v:(b+1)*v])
	}
	return out, hl, nil
}

// noSpeechProbs writes into dst the probability of token id at position
// pos of every row of h [B, T, D] (the no-speech probability at the
// start-of-transcript position).
//
//goformer:host the softmax of one token's probability runs on the downloaded logits, as the decoding rules do.
func (m *Model) noSpeechProbs(h *tensor.Tensor, pos, id int, dst []float64) error {
	l, err := m.positionLogits(h, pos)
	if err != nil {
		return err
	}
	hl, err := download(l)
	if err != nil {
		return err
	}
	defer tensor.Release(hl)
	ld := hl.Data()
	v := hl.Dim(1)
	for b := range dst {
		dst[b] = float64(softmaxAt(ld[b*v:(b+1)*v], id))
	}
	return nil
}

// logSoftmax32 returns the float32 log-softmax of a row in buf (grown when
// short).
func logSoftmax32(row []float32, buf *[]float32) []float32 {
	out := append((*buf)[:0], row...)
	*buf = out
	tensor.LogSoftmaxRow(out)
	return out
}

// run decodes a batch of encoded windows.
func (t *decodeTask) run(ctx context.Context, enc *tensor.Tensor) ([]DecodingResult, error) {
	m, tok := t.m, t.tok
	if enc == nil || enc.Rank() != 3 {
		return nil, fmt.Errorf("whisper: %w: audio features must be [batch, T, D]", tensor.ErrShape)
	}
	nAudio := enc.Dim(0)
	tokens := make([][]int, nAudio)
	for i := range tokens {
		tokens[i] = append([]int(nil), t.initial...)
	}
	languages := make([]string, nAudio)
	var langProbs []map[string]float64
	if t.opt.Language == "" {
		if tok.Multilingual && len(tok.Languages) > 0 {
			_, probs, err := m.languageLogits(ctx, enc)
			if err != nil {
				return nil, err
			}
			langProbs = probs
			for i, p := range probs {
				languages[i] = argmaxLang(p, tok)
				id, _ := tok.LanguageToken(languages[i])
				tokens[i][t.sotIndex+1] = id
			}
		} else {
			for i := range languages {
				languages[i] = "en"
			}
		}
	} else {
		c, err := tok.normalizeLanguage(t.opt.Language)
		if err != nil && tok.Multilingual {
			return nil, err
		}
		if c == "" {
			c = t.opt.Language
		}
		for i := range languages {
			languages[i] = c
		}
	}

	// repeat for the group (beam search or best-of sampling)
	dec, err := m.NewDecoder(enc)
	if err != nil {
		return nil, err
	}
	defer dec.Release() // its keys and values serve the next decoder
	var rows [][]int
	var expand []int
	for i := 0; i < nAudio; i++ {
		for g := 0; g < t.nGroup; g++ {
			rows = append(rows, append([]int(nil), tokens[i]...))
			expand = append(expand, i)
		}
	}
	if err := dec.Reorder(expand); err != nil {
		return nil, err
	}
	nBatch := len(rows)
	sumLogprobs := make([]float32, nBatch)
	noSpeech := make([]float64, nBatch)
	for i := range noSpeech {
		noSpeech[i] = math.NaN()
	}
	var sel tokenSelector
	if t.opt.BeamSize > 0 {
		sel = newBeamSearch(t.opt.BeamSize, tok.EOT, t.opt.Patience, nAudio)
	} else {
		sel = &greedySelector{temperature: t.opt.Temperature, eot: tok.EOT, rng: t.rng}
	}
	var logitRows [][]float32
	var last1 [][]int
	for i := 0; i < t.sampleLen; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		feed := rows
		if i > 0 {
			last1 = last1[:0]
			for _, r := range rows {
				last1 = append(last1, r[len(r)-1:])
			}
			feed = last1
		}
		h, err := dec.Forward(ctx, feed, nil)
		if err != nil {
			return nil, err
		}
		last := h.Dim(1) - 1
		if i == 0 && tok.NoSpeech >= 0 {
			if err := m.noSpeechProbs(h, t.sotIndex, tok.NoSpeech, noSpeech); err != nil {
				tensor.Release(h)
				return nil, err
			}
		}
		logits, lt, err := m.lastLogits(h, last, logitRows)
		tensor.Release(h)
		if err != nil {
			return nil, err
		}
		logitRows = logits
		for _, f := range t.filters {
			f.apply(logits, rows)
		}
		var completed bool
		var reorder []int
		rows, completed, reorder, err = sel.update(rows, logits, sumLogprobs)
		if err != nil {
			return nil, err
		}
		tensor.Release(lt)
		if reorder != nil {
			if err := dec.Reorder(reorder); err != nil {
				return nil, err
			}
		}
		if completed || len(rows[0]) > t.nCtx {
			break
		}
	}

	cands, candLogprobs := sel.finalize(rows, sumLogprobs, nAudio, t.nGroup)
	results := make([]DecodingResult, nAudio)
	for a := 0; a < nAudio; a++ {
		seqs := cands[a]
		sliced := make([][]int, len(seqs))
		for j, s := range seqs {
			end := len(s)
			for k := t.sampleBegin; k < len(s); k++ {
				if s[k] == tok.EOT {
					end = k
					break
				}
			}
			if t.sampleBegin <= end {
				sliced[j] = append([]int{}, s[t.sampleBegin:end]...)
			} else {
				sliced[j] = []int{}
			}
		}
		best := rankSequences(sliced, candLogprobs[a], t.opt.LengthPenalty)
		toks := sliced[best]
		lp := candLogprobs[a][best]
		text := pyStrip(tok.Decode(toks))
		results[a] = DecodingResult{
			Language:         languages[a],
			Tokens:           toks,
			Text:             text,
			AvgLogprob:       lp / float64(len(toks)+1),
			NoSpeechProb:     noSpeech[a*t.nGroup],
			Temperature:      t.opt.Temperature,
			CompressionRatio: compressionRatio(text),
		}
		if langProbs != nil {
			results[a].LanguageProbs = langProbs[a]
		}
	}
	return results, nil
}

// compressionRatio is len(text) / len(zlib.compress(text)) over the UTF-8
// bytes, OpenAI's repetition measure (utils.compression_ratio), with the
// length of the reference zlib's level-6 stream (Go's compress/zlib writes
// different streams and would shift the ratio).
func compressionRatio(text string) float64 {
	b := []byte(text)
	return float64(len(b)) / float64(zlibref.CompressedLen(b))
}

func argmaxLang(p map[string]float64, tok *Tokenizer) string {
	best, bp := "", math.Inf(-1)
	for _, c := range tok.Languages { // token order breaks ties like argmax
		if p[c] > bp {
			best, bp = c, p[c]
		}
	}
	return best
}

// softmaxAt returns softmax(row)[i] in float32 arithmetic.
func softmaxAt(row []float32, i int) float32 {
	p := append([]float32(nil), row...)
	tensor.SoftmaxRow(p)
	return p[i]
}

// rankSequences is OpenAI's MaximumLikelihoodRanker: the first candidate
// with the highest length-normalised log-probability.
func rankSequences(seqs [][]int, logprobs []float64, lengthPenalty *float64) int {
	best, bestScore := 0, math.Inf(-1)
	for i, s := range seqs {
		n := float64(len(s))
		penalty := n
		if lengthPenalty != nil {
			penalty = math.Pow((5+n)/6, *lengthPenalty)
		}
		score := logprobs[i] / penalty
		if i == 0 || score > bestScore {
			best, bestScore = i, score
		}
	}
	return best
}

// tokenSelector picks the next tokens (OpenAI's TokenDecoder).
type tokenSelector interface {
	// update appends the next token to every row; reorder, when non-nil,
	// tells how the decoder's cache must be rearranged.
	update(rows [][]int, logits [][]float32, sumLogprobs []float32) (next [][]int, completed bool, reorder []int, err error)
	// finalize returns per audio the candidate sequences and their
	// cumulative log-probabilities.
	finalize(rows [][]int, sumLogprobs []float32, nAudio, nGroup int) ([][][]int, [][]float64)
}

type greedySelector struct {
	temperature float64
	eot         int
	rng         *rand.Rand
}

func (g *greedySelector) update(rows [][]int, logits [][]float32, sumLogprobs []float32) ([][]int, bool, []int, error) {
	completed := true
	for b, row := range logits {
		var next int
		if g.temperature == 0 {
			next = tensor.Argmax(row)
		} else {
			next = sampleCategorical(row, g.temperature, g.rng)
		}
		lastEOT := rows[b][len(rows[b])-1] == g.eot
		if !lastEOT {
			sumLogprobs[b] += row[next] - tensor.LogSumExp(row) // log-softmax at next
		} else {
			next = g.eot
		}
		rows[b] = append(rows[b], next)
		if next != g.eot {
			completed = false
		}
	}
	return rows, completed, nil, nil
}

func (g *greedySelector) finalize(rows [][]int, sumLogprobs []float32, nAudio, nGroup int) ([][][]int, [][]float64) {
	cands := make([][][]int, nAudio)
	lps := make([][]float64, nAudio)
	for b, r := range rows {
		a := b / nGroup
		cands[a] = append(cands[a], append(append([]int(nil), r...), g.eot))
		lps[a] = append(lps[a], float64(sumLogprobs[b]))
	}
	return cands, lps
}

// sampleCategorical draws from softmax(logits/T).
func sampleCategorical(logits []float32, temperature float64, rng *rand.Rand) int {
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = math.Max(mx, float64(v)/temperature)
	}
	var sum float64
	p := make([]float64, len(logits))
	for i, v := range logits {
		e := math.Exp(float64(v)/temperature - mx)
		p[i] = e
		sum += e
	}
	u := rng.Float64() * sum
	for i, v := range p {
		u -= v
		if u < 0 && v > 0 {
			return i
		}
	}
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] > 0 {
			return i
		}
	}
	return 0
}

// pyStrip trims whitespace as Python's str.strip() does.
func pyStrip(s string) string { return transcript.Strip(s) }

func pyIsSpace(r rune) bool { return transcript.IsSpace(r) }
