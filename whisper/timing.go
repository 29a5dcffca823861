package whisper

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// wordTiming is OpenAI's timing.WordTiming.
type wordTiming struct {
	word        string
	tokens      []int
	start, end  float64
	probability float64
}

// alignmentHeads returns the sorted [layer, head] pairs used for word
// timing: generation_config's alignment_heads, else every head of the
// second half of the decoder layers (OpenAI's default).
func (m *Model) alignmentHeads() [][2]int {
	var heads [][2]int
	for _, h := range m.Generation.AlignmentHeads {
		if h[0] >= 0 && h[0] < m.Config.DecoderLayers && h[1] >= 0 && h[1] < m.Config.DecoderHeads {
			heads = append(heads, h)
		}
	}
	if len(heads) == 0 {
		for l := m.Config.DecoderLayers / 2; l < m.Config.DecoderLayers; l++ {
			for h := 0; h < m.Config.DecoderHeads; h++ {
				heads = append(heads, [2]int{l, h})
			}
		}
	}
	sort.Slice(heads, func(i, j int) bool {
		if heads[i][0] != heads[j][0] {
			return heads[i][0] < heads[j][0]
		}
		return heads[i][1] < heads[j][1]
	})
	return heads
}

// alignmentForward runs the decoder on tokens (one sequence, no cache) over
// one window's audio features, on the model's device, and returns the
// logits [hi−lo, V] of positions lo..hi−1 and, for every alignment head,
// the cross-attention weights [T, nf] over the first nf encoder positions:
// OpenAI's QK hooks, scaled query·key scores, cut to the frames of the
// window's audio and softmaxed over them (attention probabilities with the
// later positions masked out). Release them after use.
func (m *Model) alignmentForward(ctx context.Context, enc *tensor.Tensor, tokens []int, heads [][2]int, nf, lo, hi int) (logits *tensor.Tensor, weights []*tensor.Tensor, err error) {
	dec, err := m.NewDecoder(enc)
	if err != nil {
		return nil, nil, err
	}
	defer dec.Release() // its keys and values serve the next decoder
	x, owner, err := m.embedTokens([][]int{tokens}, 0, &dec.ids)
	if err != nil {
		return nil, nil, err
	}
	x = addT(x, nil) // an owned copy, so that owner can go
	tensor.Release(owner)
	weights = make([]*tensor.Tensor, len(heads))
	defer func() {
		if err != nil {
			tensor.Release(x)
			for _, w := range weights {
				tensor.Release(w)
			}
		}
	}()
	tk := dec.states[0].Cross.Len()
	var mask *tensor.Tensor
	if nf < tk {
		md := make([]float32, tk)
		for j := nf; j < tk; j++ {
			md[j] = float32(math.Inf(-1))
		}
		if mask, err = m.dev.FromHost(md, 1, 1, tk); err != nil {
			return nil, nil, err
		}
		defer tensor.Release(mask)
	}
	for l, blk := range m.decBlocks {
		if err = ctx.Err(); err != nil {
			return nil, nil, err
		}
		st := &dec.states[l]
		a := blk.LN1.Forward(x)
		x = addT(x, blk.SelfAttn.Self(a, nn.AttnOptions{Causal: true}))
		tensor.Release(a)
		h := blk.LNCross.Forward(x)
		if err = m.alignmentWeights(blk.CrossAttn, h, st.Cross, mask, l, heads, nf, weights); err != nil {
			tensor.Release(h)
			return nil, nil, err
		}
		x = addT(x, blk.CrossAttn.Cross(h, st.Cross, nn.AttnOptions{}))
		tensor.Release(h)
		a = blk.LN2.Forward(x)
		x = addT(x, blk.MLP.Forward(a))
		tensor.Release(a)
	}
	y := m.decLN.Forward(x)
	tensor.Release(x)
	x = nil
	rows := y.Index(0).Slice(0, lo, hi)
	logits, err = m.logits(rows)
	tensor.Release(rows)
	tensor.Release(y)
	if err != nil {
		return nil, nil, err
	}
	return logits, weights, nil
}

// alignmentWeights sets weights[i] for the alignment heads heads[i] of
// layer l: the cross-attention probabilities [T, nf] of queries from h
// [1, T, D] against kv with mask (nil when nf covers every position).
func (m *Model) alignmentWeights(attn *nn.Attention, h *tensor.Tensor, kv *nn.CrossKV, mask *tensor.Tensor, l int, heads [][2]int, nf int, weights []*tensor.Tensor) error {
	need := false
	for _, lh := range heads {
		need = need || lh[0] == l
	}
	if !need {
		return nil
	}
	q := attn.Q.Forward(h)
	defer tensor.Release(q)
	p := m.dev.New(1, attn.Heads, h.Dim(1), kv.Len())
	defer tensor.Release(p)
	opt := tensor.AttentionOptions{Heads: attn.Heads, Scale: attn.Scale, Mask: mask, Probs: p}
	var o *tensor.Tensor
	var err error
	if kv.Packed != nil {
		o, err = tensor.AttentionPacked(q, kv.Packed, opt)
	} else {
		o, err = tensor.Attention(q, kv.K, kv.V, opt)
	}
	if err != nil {
		return fmt.Errorf("whisper: alignment heads of layer %d: %w", l, err)
	}
	tensor.Release(o)
	for i, lh := range heads {
		if lh[0] != l {
			continue
		}
		ph := p.Index(0).Index(lh[1])
		v := ph.Slice(1, 0, nf)
		weights[i] = v.Clone()
		tensor.Release(v)
		tensor.Release(ph)
	}
	return nil
}

// addT returns a + b (a copy of a when b is nil), releasing a and b.
func addT(a, b *tensor.Tensor) *tensor.Tensor {
	out := a.Clone()
	tensor.Release(a)
	if b == nil {
		return out
	}
	err := tensor.AddInPlace(out, b)
	tensor.Release(b)
	if err != nil {
		panic("whisper: " + err.Error())
	}
	return out
}

// findAlignment is OpenAI's timing.find_alignment (medfilt_width 7,
// qk_scale 1).
//
//goformer:host the alignment (token probabilities, normalisation, median filter, DTW) runs on the downloaded logits and cross-attention weights.
func (m *Model) findAlignment(ctx context.Context, tok *Tokenizer, language, task string, textTokens []int, enc *tensor.Tensor, numFrames int) ([]wordTiming, error) {
	if len(textTokens) == 0 {
		return nil, nil
	}
	sot, err := tok.SOTSequence(language, task)
	if err != nil {
		return nil, err
	}
	tokens := append(append(append([]int(nil), sot...), tok.NoTimestamps), textTokens...)
	tokens = append(tokens, tok.EOT)
	if len(tokens) > m.Config.MaxTargetPositions {
		return nil, nil
	}
	// heads × tokens × frames
	T := len(tokens)
	tk := enc.Dim(1)
	nf := min(numFrames/2, tk)
	if nf <= 0 {
		return nil, nil
	}
	heads := m.alignmentHeads()
	// the logits of the positions that predict the text tokens
	lo := len(sot)
	logits, qk, err := m.alignmentForward(ctx, enc, tokens, heads, nf, lo, lo+len(textTokens))
	if err != nil {
		return nil, err
	}
	lt := logits.Slice(1, 0, tok.EOT)
	ld, err := tensor.HostData(lt) // on the host, maybe logits' own storage
	defer tensor.Release(logits)
	defer tensor.Release(lt)
	weights := make([][]float32, len(heads)) // each [T*nf]
	for hi, q := range qk {
		if err == nil {
			var w *tensor.Tensor
			if w, err = download(q); err == nil {
				weights[hi] = w.Data()
			}
		} else {
			tensor.Release(q)
		}
	}
	if err != nil {
		return nil, err
	}
	// probabilities of the text tokens over the text vocabulary
	probs := make([]float64, len(textTokens))
	for i, id := range textTokens {
		row := ld[i*tok.EOT : (i+1)*tok.EOT]
		tensor.SoftmaxRow(row)
		probs[i] = float64(row[id])
	}

	for hi, w := range weights {
		// standardise over the token axis (std_mean over dim -2, biased)
		for c := 0; c < nf; c++ {
			var sum float32
			for r := 0; r < T; r++ {
				sum += w[r*nf+c]
			}
			mean := sum / float32(T)
			var sq float32
			for r := 0; r < T; r++ {
				d := w[r*nf+c] - mean
				sq += d * d
			}
			std := float32(math.Sqrt(float64(sq / float32(T))))
			for r := 0; r < T; r++ {
				w[r*nf+c] = (w[r*nf+c] - mean) / std
			}
		}
		weights[hi] = medianFilterRows(w, T, nf, 7)
	}
	// mean over heads, rows sot_len .. T-1 (exclusive)
	n0 := len(sot)
	rows := T - 1 - n0
	matrix := make([]float64, rows*nf)
	for r := 0; r < rows; r++ {
		for c := 0; c < nf; c++ {
			var s float32
			for hi := range heads {
				s += weights[hi][(n0+r)*nf+c]
			}
			mean := s / float32(len(heads))
			matrix[r*nf+c] = float64(-mean)
		}
	}
	textIdx, timeIdx := dtw(matrix, rows, nf)

	words, wordTokens := tok.splitToWordTokens(append(append([]int(nil), textTokens...), tok.EOT), language)
	if len(wordTokens) <= 1 {
		return nil, nil
	}
	bounds := make([]int, len(wordTokens))
	for i := 1; i < len(wordTokens); i++ {
		bounds[i] = bounds[i-1] + len(wordTokens[i-1])
	}
	var jumpTimes []float64
	for i := range textIdx {
		if i == 0 || textIdx[i] != textIdx[i-1] {
			jumpTimes = append(jumpTimes, float64(timeIdx[i])/50)
		}
	}
	var out []wordTiming
	for i := 0; i+1 < len(bounds) && i < len(words); i++ {
		a, b := bounds[i], bounds[i+1]
		if b >= len(jumpTimes) || a >= len(jumpTimes) {
			break
		}
		var p float64
		if b > a {
			p = npMean(probs[a:min(b, len(probs))])
		} else {
			p = math.NaN()
		}
		out = append(out, wordTiming{
			word: words[i], tokens: wordTokens[i],
			start: jumpTimes[a], end: jumpTimes[b], probability: p,
		})
	}
	return out, nil
}

// npMean is numpy's mean of a float64 list (pairwise summation for long
// inputs; plain summation below 8 elements is identical).
func npMean(x []float64) float64 {
	return pairwiseSum(x) / float64(len(x))
}

func pairwiseSum(x []float64) float64 {
	n := len(x)
	if n < 8 {
		var s float64
		for _, v := range x {
			s += v
		}
		return s
	}
	if n <= 128 {
		var r [8]float64
		copy(r[:], x[:8])
		i := 8
		for ; i < n-n%8; i += 8 {
			for k := 0; k < 8; k++ {
				r[k] += x[i+k]
			}
		}
		s := ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
		for ; i < n; i++ {
			s += x[i]
		}
		return s
	}
	n2 := n / 2
	n2 -= n2 % 8
	return pairwiseSum(x[:n2]) + pairwiseSum(x[n2:])
}

// medianFilterRows applies OpenAI's median_filter along the last axis of a
// [rows, cols] matrix: reflect padding of width/2, then the median of each
// window.
func medianFilterRows(x []float32, rows, cols, width int) []float32 {
	pad := width / 2
	if cols <= pad {
		return x
	}
	out := make([]float32, len(x))
	padded := make([]float32, cols+2*pad)
	win := make([]float32, width)
	for r := 0; r < rows; r++ {
		src := x[r*cols : (r+1)*cols]
		for i := range padded {
			j := i - pad
			if j < 0 {
				j = -j
			} else if j >= cols {
				j = 2*(cols-1) - j
			}
			padded[i] = src[j]
		}
		for c := 0; c < cols; c++ {
			copy(win, padded[c:c+width])
			sortFloat32(win)
			out[r*cols+c] = win[pad]
		}
	}
	return out
}

func sortFloat32(a []float32) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// dtw is OpenAI's dtw_cpu + backtrace on an [n, m] cost matrix (float64
// inputs, float32 accumulated costs) and returns the text and time indices
// of the path.
func dtw(x []float64, n, m int) (textIdx, timeIdx []int) {
	inf := float32(math.Inf(1))
	cost := make([]float32, (n+1)*(m+1))
	trace := make([]int8, (n+1)*(m+1))
	for i := range cost {
		cost[i] = inf
		trace[i] = -1
	}
	w := m + 1
	cost[0] = 0
	for j := 1; j <= m; j++ {
		for i := 1; i <= n; i++ {
			c0 := cost[(i-1)*w+j-1]
			c1 := cost[(i-1)*w+j]
			c2 := cost[i*w+j-1]
			var c float32
			var t int8
			switch {
			case c0 < c1 && c0 < c2:
				c, t = c0, 0
			case c1 < c0 && c1 < c2:
				c, t = c1, 1
			default:
				c, t = c2, 2
			}
			cost[i*w+j] = float32(x[(i-1)*m+j-1] + float64(c))
			trace[i*w+j] = t
		}
	}
	for j := 0; j <= m; j++ {
		trace[j] = 2
	}
	for i := 0; i <= n; i++ {
		trace[i*w] = 1
	}
	i, j := n, m
	var path [][2]int
	for i > 0 || j > 0 {
		path = append(path, [2]int{i - 1, j - 1})
		switch trace[i*w+j] {
		case 0:
			i, j = i-1, j-1
		case 1:
			i--
		default:
			j--
		}
	}
	for k := len(path) - 1; k >= 0; k-- {
		textIdx = append(textIdx, path[k][0])
		timeIdx = append(timeIdx, path[k][1])
	}
	return textIdx, timeIdx
}

// mergePunctuations is OpenAI's timing.merge_punctuations.
func mergePunctuations(al []wordTiming, prepended, appended string) {
	// merge prepended punctuations
	i, j := len(al)-2, len(al)-1
	for i >= 0 {
		prev, next := &al[i], &al[j]
		if strings.HasPrefix(prev.word, " ") && strings.Contains(prepended, pyStrip(prev.word)) {
			next.word = prev.word + next.word
			next.tokens = append(append([]int(nil), prev.tokens...), next.tokens...)
			prev.word = ""
			prev.tokens = nil
		} else {
			j = i
		}
		i--
	}
	// merge appended punctuations
	i, j = 0, 1
	for j < len(al) {
		prev, next := &al[i], &al[j]
		if !strings.HasSuffix(prev.word, " ") && strings.Contains(appended, next.word) {
			prev.word = prev.word + next.word
			prev.tokens = append(append([]int(nil), prev.tokens...), next.tokens...)
			next.word = ""
			next.tokens = nil
		} else {
			i = j
		}
		j++
	}
}

// pyRound2 is Python's round(x, 2).
func pyRound2(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', 2, 64), 64)
	return v
}

// npMedian is numpy's median of float64 values.
func npMedian(x []float64) float64 {
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// addWordTimestamps is OpenAI's timing.add_word_timestamps on the segments
// of one window.
func (m *Model) addWordTimestamps(ctx context.Context, segments []Segment, tok *Tokenizer, language, task string, enc *tensor.Tensor, numFrames int, prepend, appendP string, lastSpeechTimestamp float64) error {
	if len(segments) == 0 {
		return nil
	}
	perSegment := make([][]int, len(segments))
	var textTokens []int
	for i, s := range segments {
		for _, t := range s.Tokens {
			if t < tok.EOT {
				perSegment[i] = append(perSegment[i], t)
			}
		}
		textTokens = append(textTokens, perSegment[i]...)
	}
	alignment, err := m.findAlignment(ctx, tok, language, task, textTokens, enc, numFrames)
	if err != nil {
		return err
	}
	var durations []float64
	for _, a := range alignment {
		if d := a.end - a.start; d != 0 {
			durations = append(durations, d)
		}
	}
	median := 0.0
	if len(durations) > 0 {
		median = npMedian(durations)
	}
	median = math.Min(0.7, median)
	maxDuration := median * 2

	// hack: truncate long words at sentence boundaries.
	if len(durations) > 0 {
		const sentenceEnd = ".。!！?？"
		for i := 1; i < len(alignment); i++ {
			if alignment[i].end-alignment[i].start > maxDuration {
				if strings.Contains(sentenceEnd, alignment[i].word) {
					alignment[i].end = alignment[i].start + maxDuration
				} else if strings.Contains(sentenceEnd, alignment[i-1].word) {
					alignment[i].start = alignment[i].end - maxDuration
				}
			}
		}
	}
	mergePunctuations(alignment, prepend, appendP)

	timeOffset := float64(segments[0].Seek*160) / 16000
	wordIndex := 0
	for si := range segments {
		segment := &segments[si]
		saved := 0
		var words []Word
		for wordIndex < len(alignment) && saved < len(perSegment[si]) {
			timing := alignment[wordIndex]
			if timing.word != "" {
				words = append(words, Word{
					Word:        timing.word,
					Start:       pyRound2(timeOffset + timing.start),
					End:         pyRound2(timeOffset + timing.end),
					Probability: timing.probability,
				})
			}
			saved += len(timing.tokens)
			wordIndex++
		}
		// hack: truncate long words at segment boundaries.
		if len(words) > 0 {
			// ensure the first and second word after a pause is not longer
			// than twice the median word duration.
			if words[0].End-lastSpeechTimestamp > median*4 &&
				(words[0].End-words[0].Start > maxDuration ||
					(len(words) > 1 && words[1].End-words[0].Start > maxDuration*2)) {
				if len(words) > 1 && words[1].End-words[1].Start > maxDuration {
					boundary := math.Max(words[1].End/2, words[1].End-maxDuration)
					words[0].End = boundary
					words[1].Start = boundary
				}
				words[0].Start = math.Max(0, words[0].End-maxDuration)
			}
			// prefer the segment-level start timestamp if the first word is too long.
			if segment.Start < words[0].End && segment.Start-0.5 > words[0].Start {
				words[0].Start = math.Max(0, math.Min(words[0].End-median, segment.Start))
			} else {
				segment.Start = words[0].Start
			}
			// prefer the segment-level end timestamp if the last word is too long.
			if segment.End > words[len(words)-1].Start && segment.End+0.5 < words[len(words)-1].End {
				words[len(words)-1].End = math.Max(words[len(words)-1].Start+median, segment.End)
			} else {
				segment.End = words[len(words)-1].End
			}
			lastSpeechTimestamp = segment.End
		}
		segment.Words = words
	}
	return nil
}
