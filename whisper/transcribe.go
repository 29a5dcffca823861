package whisper

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/goformer/goformer/task"

	"github.com/goformer/goformer/audio"
	"github.com/goformer/goformer/tensor"
)

// Options configure Transcribe: OpenAI's transcribe() arguments and the
// DecodingOptions it passes to every window. The zero value is OpenAI's
// default (temperature fallback 0, 0.2, …, 1.0; thresholds 2.4, −1, 0.6;
// conditioning on previous text; timestamps; language detection).
type Options struct {
	// Task is "transcribe" (default) or "translate".
	Task string `json:"task,omitempty"`
	// Language is a code or English name; "" detects it from the first
	// 30 seconds.
	Language string `json:"language,omitempty"`

	// Temperatures is the fallback schedule: the next temperature is tried
	// when a window's compression ratio or average log-probability fails
	// its threshold. nil means 0, 0.2, 0.4, 0.6, 0.8, 1.0; use []float64{0}
	// for no fallback.
	Temperatures []float64 `json:"temperatures,omitempty"`
	// CompressionRatioThreshold marks a window as failed (too repetitive)
	// above it; nil means 2.4, a pointer to NaN disables the check.
	CompressionRatioThreshold *float64 `json:"compression_ratio_threshold,omitempty"`
	// LogprobThreshold marks a window as failed below it; nil means −1, a
	// pointer to NaN disables the check.
	LogprobThreshold *float64 `json:"logprob_threshold,omitempty"`
	// NoSpeechThreshold skips a window as silence when its no-speech
	// probability is above it and its log-probability failed; nil means
	// 0.6, a pointer to NaN disables the check.
	NoSpeechThreshold *float64 `json:"no_speech_threshold,omitempty"`
	// NoConditionOnPreviousText stops feeding the previous windows' text as
	// the prompt (OpenAI's condition_on_previous_text=False).
	NoConditionOnPreviousText bool `json:"no_condition_on_previous_text,omitempty"`
	// InitialPrompt is text fed as the prompt of the first window.
	InitialPrompt string `json:"initial_prompt,omitempty"`
	// CarryInitialPrompt prepends InitialPrompt to every window's prompt.
	CarryInitialPrompt bool `json:"carry_initial_prompt,omitempty"`

	// BeamSize > 0 uses beam search at temperature 0; Patience and
	// LengthPenalty as in DecodingOptions. BeamSize and BestOf are at most
	// generate.MaxBeams.
	BeamSize      int      `json:"beam_size,omitempty"`
	Patience      float64  `json:"patience,omitempty"`
	LengthPenalty *float64 `json:"length_penalty,omitempty"`
	// BestOf is the number of samples at temperature > 0 (0: one).
	BestOf int `json:"best_of,omitempty"`
	// SuppressTokens, NoSuppressTokens and NoSuppressBlank as in
	// DecodingOptions.
	SuppressTokens   []int `json:"suppress_tokens,omitempty"`
	NoSuppressTokens bool  `json:"no_suppress_tokens,omitempty"`
	NoSuppressBlank  bool  `json:"no_suppress_blank,omitempty"`
	// WithoutTimestamps decodes text only; each window is then one segment.
	WithoutTimestamps bool `json:"without_timestamps,omitempty"`
	// MaxInitialTimestamp as in DecodingOptions (nil: 1 s).
	MaxInitialTimestamp *float64 `json:"max_initial_timestamp,omitempty"`
	// MaxTokens bounds the tokens sampled per window (0: 224); at most the
	// decoder's max_target_positions.
	MaxTokens int `json:"max_tokens,omitempty"`
	// Seed seeds sampling at temperature > 0.
	Seed uint64 `json:"seed,omitempty"`

	// WordTimestamps adds word-level timestamps from the cross-attention
	// alignment heads (and refines segment boundaries with them).
	WordTimestamps bool `json:"word_timestamps,omitempty"`
	// PrependPunctuations are merged with the next word, AppendPunctuations
	// with the previous one; nil means OpenAI's defaults.
	PrependPunctuations *string `json:"prepend_punctuations,omitempty"`
	AppendPunctuations  *string `json:"append_punctuations,omitempty"`
	// ClipTimestamps lists start,end,start,end,… seconds of the clips to
	// transcribe (the last end defaults to the end of the audio); nil means
	// everything.
	ClipTimestamps []float64 `json:"clip_timestamps,omitempty"`
	// HallucinationSilenceThreshold (seconds, with WordTimestamps) skips
	// silent periods around likely hallucinations; 0 disables it.
	HallucinationSilenceThreshold float64 `json:"hallucination_silence_threshold,omitempty"`

	// OnSegment, when set, is called with every segment as soon as its
	// window is finished (streaming progress).
	OnSegment func(Segment) `json:"-"`
}

// Float returns a pointer to v, for the optional fields of Options.
func Float(v float64) *float64 { return &v }

// String returns a pointer to s, for the optional fields of Options.
func String(s string) *string { return &s }

// Default punctuation sets of OpenAI's word timing.
const (
	DefaultPrependPunctuations = "\"'“¿([{-"
	DefaultAppendPunctuations  = "\"'.。,，!！?？:：”)]}、"
)

// Word is one word with its timing (the front door's type).
type Word = task.Word

// Segment is a piece of the transcript with its timing and decoding
// statistics (OpenAI's segment dict; the front door's type).
type Segment = task.Segment

// Result is a transcription.
type Result struct {
	Text     string    `json:"text"`
	Segments []Segment `json:"segments"`
	Language string    `json:"language"`
	// words marks a word-timestamp run (a segment's Words may be empty).
	words bool
}

var defaultTemperatures = []float64{0, 0.2, 0.4, 0.6, 0.8, 1.0}

func optFloat(p *float64, def float64) (float64, bool) {
	if p == nil {
		return def, true
	}
	if math.IsNaN(*p) {
		return 0, false
	}
	return *p, true
}

// TranscribeReader decodes an audio file (WAV, FLAC, MP3, Ogg as the audio
// package supports), resamples it to 16 kHz mono and transcribes it.
func (m *Model) TranscribeReader(ctx context.Context, r io.Reader, opt Options) (*Result, error) {
	if err := m.checkOptions(opt); err != nil {
		return nil, err
	}
	pcm, err := audio.Load16k(r)
	if err != nil {
		return nil, fmt.Errorf("whisper: %w", err)
	}
	return m.Transcribe(ctx, pcm, opt)
}

// Transcribe transcribes 16 kHz mono PCM of any length with OpenAI's
// sequential long-form algorithm.
//
// The features of each 30 s window are computed from pcm when the window is
// decoded (audio.PaddedMel), after one pass over the recording for the
// maximum that OpenAI's whole-recording spectrogram clamps against; the
// results equal TranscribeMel on audio.LogMelPadded(pcm), and memory beyond
// pcm and the model does not grow with the length of the audio. pcm must
// not change during the call.
func (m *Model) Transcribe(ctx context.Context, pcm []float32, opt Options) (*Result, error) {
	if err := m.checkOptions(opt); err != nil {
		return nil, err
	}
	mel, err := audio.NewPaddedMel(ctx, pcm, m.Config.NumMelBins)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("whisper: %w", err)
	}
	return m.transcribe(ctx, mel, opt)
}

// DetectLanguage returns the language probabilities of a 30-second log-mel
// window [n_mels, frames] (or the first window of a longer spectrogram),
// most probable first.
func (m *Model) DetectLanguage(ctx context.Context, mel *tensor.Tensor) ([]LanguageProb, error) {
	if mel != nil && mel.Rank() == 2 && mel.Dim(1) != m.Config.NumFrames() {
		w, err := audio.MelWindow(mel, 0, m.Config.NumFrames())
		if err != nil {
			return nil, fmt.Errorf("whisper: %w", err)
		}
		mel = w
	}
	enc, err := m.Encode(ctx, mel)
	if err != nil {
		return nil, err
	}
	defer tensor.Release(enc)
	_, probs, err := m.languageLogits(ctx, enc)
	if err != nil {
		return nil, err
	}
	return sortedLanguages(probs[0], m.specials()), nil
}

func sortedLanguages(p map[string]float64, tok *Tokenizer) []LanguageProb {
	out := make([]LanguageProb, 0, len(p))
	for _, c := range tok.Languages {
		out = append(out, LanguageProb{c, p[c]})
	}
	// stable: ties keep token order
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Probability > out[j-1].Probability; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// TranscribeMel transcribes a log-mel spectrogram computed as OpenAI's
// log_mel_spectrogram(audio, padding=N_SAMPLES) (audio.LogMelPadded): the
// last 3000 frames are the padding.
func (m *Model) TranscribeMel(ctx context.Context, mel *tensor.Tensor, opt Options) (*Result, error) {
	if mel == nil || mel.Rank() != 2 || mel.Dim(0) != m.Config.NumMelBins || mel.Dim(1) < m.Config.NumFrames() {
		var shape []int
		if mel != nil {
			shape = mel.Shape()
		}
		return nil, fmt.Errorf("whisper: %w: padded mel %v, want [%d, frames ≥ %d]", tensor.ErrShape, shape, m.Config.NumMelBins, m.Config.NumFrames())
	}
	return m.transcribe(ctx, tensorMel{mel}, opt)
}

// melSource is a padded log-mel spectrogram [n_mels, frames] read one
// window at a time: a tensor (TranscribeMel) or computed on demand from
// PCM (*audio.PaddedMel).
type melSource interface {
	Frames() int
	Window(seek, size int) (*tensor.Tensor, error)
}

// tensorMel is a spectrogram held whole.
type tensorMel struct{ t *tensor.Tensor }

func (m tensorMel) Frames() int { return m.t.Dim(1) }

func (m tensorMel) Window(seek, size int) (*tensor.Tensor, error) {
	return audio.MelWindow(m.t, seek, size)
}

func (m *Model) transcribe(ctx context.Context, mel melSource, opt Options) (*Result, error) {
	if err := m.checkOptions(opt); err != nil {
		return nil, err
	}
	if m.tok == nil {
		return nil, ErrNoTokenizer
	}
	lf := &longForm{
		tok: m.tok, cfg: m.Config,
		encode: m.Encode,
		decode: func(ctx context.Context, enc *tensor.Tensor, o DecodingOptions) (DecodingResult, error) {
			rs, err := m.DecodeFeatures(ctx, enc, o)
			if err != nil {
				return DecodingResult{}, err
			}
			return rs[0], nil
		},
		detect: func(ctx context.Context, w *tensor.Tensor) (string, error) {
			probs, err := m.DetectLanguage(ctx, w)
			if err != nil {
				return "", err
			}
			return probs[0].Language, nil
		},
		words: m.addWordTimestamps,
	}
	return lf.run(ctx, mel, opt)
}

// longForm is OpenAI's transcribe() loop over a padded spectrogram; the
// model calls are fields so that tests can script them.
type longForm struct {
	tok    *Tokenizer
	cfg    Config
	encode func(ctx context.Context, mel *tensor.Tensor) (*tensor.Tensor, error)
	decode func(ctx context.Context, enc *tensor.Tensor, o DecodingOptions) (DecodingResult, error)
	detect func(ctx context.Context, window *tensor.Tensor) (string, error)
	words  func(ctx context.Context, segments []Segment, tok *Tokenizer, language, task string, enc *tensor.Tensor, numFrames int, prepend, appendP string, lastSpeech float64) error
}

func (lf *longForm) run(ctx context.Context, mel melSource, opt Options) (*Result, error) {
	tok := lf.tok
	cfg := lf.cfg
	nFrames := cfg.NumFrames()
	if mel.Frames() < nFrames {
		return nil, fmt.Errorf("whisper: %w: padded mel of %d frames, want ≥ %d", tensor.ErrShape, mel.Frames(), nFrames)
	}
	const hop, sampleRate = audio.HopLength, audio.SampleRate
	contentFrames := mel.Frames() - nFrames
	contentDuration := float64(contentFrames*hop) / sampleRate

	crt, crtOn := optFloat(opt.CompressionRatioThreshold, 2.4)
	lpt, lptOn := optFloat(opt.LogprobThreshold, -1.0)
	nst, nstOn := optFloat(opt.NoSpeechThreshold, 0.6)
	temps := opt.Temperatures
	if temps == nil {
		temps = defaultTemperatures
	}
	if len(temps) == 0 {
		return nil, fmt.Errorf("whisper: empty temperature schedule")
	}
	prepend, appendP := DefaultPrependPunctuations, DefaultAppendPunctuations
	if opt.PrependPunctuations != nil {
		prepend = *opt.PrependPunctuations
	}
	if opt.AppendPunctuations != nil {
		appendP = *opt.AppendPunctuations
	}

	language := opt.Language
	if language == "" {
		if !tok.Multilingual {
			language = "en"
		} else {
			w, err := mel.Window(0, nFrames)
			if err != nil {
				return nil, fmt.Errorf("whisper: %w", err)
			}
			language, err = lf.detect(ctx, w)
			tensor.Release(w)
			if err != nil {
				return nil, err
			}
		}
	} else if tok.Multilingual {
		c, err := tok.normalizeLanguage(language)
		if err != nil {
			return nil, err
		}
		language = c
	}
	task := opt.Task
	if task == "" {
		task = "transcribe"
	}

	// clips
	seekPoints := make([]int, 0, len(opt.ClipTimestamps)+1)
	for _, ts := range opt.ClipTimestamps {
		seekPoints = append(seekPoints, int(math.RoundToEven(ts*float64(sampleRate/hop))))
	}
	if len(seekPoints) == 0 {
		seekPoints = append(seekPoints, 0)
	}
	if len(seekPoints)%2 == 1 {
		seekPoints = append(seekPoints, contentFrames)
	}
	type clip struct{ start, end int }
	var clips []clip
	for i := 0; i+1 < len(seekPoints); i += 2 {
		clips = append(clips, clip{seekPoints[i], seekPoints[i+1]})
	}

	decodeBase := DecodingOptions{
		Task: task, Language: language,
		SampleLen: opt.MaxTokens, BestOf: opt.BestOf, BeamSize: opt.BeamSize, Patience: opt.Patience,
		LengthPenalty: opt.LengthPenalty, SuppressTokens: opt.SuppressTokens,
		NoSuppressTokens: opt.NoSuppressTokens, NoSuppressBlank: opt.NoSuppressBlank,
		WithoutTimestamps: opt.WithoutTimestamps, MaxInitialTimestamp: opt.MaxInitialTimestamp,
		Seed: opt.Seed,
	}

	decodeWithFallback := func(enc *tensor.Tensor, prompt []int) (DecodingResult, error) {
		var res DecodingResult
		for _, t := range temps {
			o := decodeBase
			o.Prompt = prompt
			o.Temperature = t
			if t > 0 {
				o.BeamSize, o.Patience = 0, 0
			} else {
				o.BestOf = 0
			}
			r, err := lf.decode(ctx, enc, o)
			if err != nil {
				return res, err
			}
			res = r
			needsFallback := false
			if crtOn && res.CompressionRatio > crt {
				needsFallback = true // too repetitive
			}
			if lptOn && res.AvgLogprob < lpt {
				needsFallback = true // average log probability is too low
			}
			if nstOn && res.NoSpeechProb > nst && lptOn && res.AvgLogprob < lpt {
				needsFallback = false // silence
			}
			if !needsFallback {
				break
			}
		}
		return res, nil
	}

	clipIdx := 0
	seek := clips[0].start
	inputStride := nFrames / cfg.MaxSourcePositions        // mel frames per output token: 2
	timePrecision := float64(inputStride*hop) / sampleRate // 0.02 s per output token
	framesPerSecond := sampleRate / hop
	var allTokens []int
	var allSegments []Segment
	promptResetSince := 0
	remainingPromptLength := cfg.MaxTargetPositions/2 - 1
	var initialPromptTokens []int
	if opt.InitialPrompt != "" {
		ids, err := tok.Encode(" " + strings.TrimSpace(opt.InitialPrompt))
		if err != nil {
			return nil, err
		}
		initialPromptTokens = ids
		allTokens = append(allTokens, ids...)
		remainingPromptLength -= len(ids)
	}
	punctuation := DefaultPrependPunctuations + DefaultAppendPunctuations
	lastSpeechTimestamp := 0.0

	// Each window's audio features are released when the next window is
	// encoded (or the loop ends), so windows reuse the same memory.
	var enc *tensor.Tensor
	defer func() { tensor.Release(enc) }()
	for clipIdx < len(clips) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		clipStart, clipEnd := clips[clipIdx].start, clips[clipIdx].end
		if seek < clipStart {
			seek = clipStart
		}
		if seek >= clipEnd {
			clipIdx++
			if clipIdx < len(clips) {
				seek = clips[clipIdx].start
			}
			continue
		}
		timeOffset := float64(seek*hop) / sampleRate
		windowEndTime := float64((seek+nFrames)*hop) / sampleRate
		segmentSize := min(nFrames, contentFrames-seek, clipEnd-seek)
		segmentDuration := float64(segmentSize*hop) / sampleRate
		melSegment, err := mel.Window(seek, segmentSize)
		if err != nil {
			return nil, fmt.Errorf("whisper: %w", err)
		}
		tensor.Release(enc)
		enc, err = lf.encode(ctx, melSegment)
		tensor.FreeScratch()
		tensor.Release(melSegment)
		if err != nil {
			return nil, err
		}

		var prompt []int
		if opt.CarryInitialPrompt {
			nIgnored := max(len(initialPromptTokens), promptResetSince)
			rest := pyTail(allTokens[min(nIgnored, len(allTokens)):], remainingPromptLength)
			prompt = append(append([]int(nil), initialPromptTokens...), rest...)
		} else {
			prompt = append([]int(nil), allTokens[promptResetSince:]...)
		}

		result, err := decodeWithFallback(enc, prompt)
		if err != nil {
			return nil, err
		}
		tokens := result.Tokens

		if nstOn {
			// no voice activity check
			shouldSkip := result.NoSpeechProb > nst
			if lptOn && result.AvgLogprob > lpt {
				// don't skip if the logprob is high enough, despite the no_speech_prob
				shouldSkip = false
			}
			if shouldSkip {
				seek += segmentSize // fast-forward to the next segment boundary
				continue
			}
		}

		previousSeek := seek
		var current []Segment
		newSegment := func(start, end float64, toks []int) Segment {
			var text []int
			for _, t := range toks {
				if t < tok.EOT {
					text = append(text, t)
				}
			}
			return Segment{
				Seek: seek, Start: start, End: end,
				Text:             tok.Decode(text),
				Tokens:           append([]int{}, toks...),
				Temperature:      result.Temperature,
				AvgLogprob:       result.AvgLogprob,
				CompressionRatio: result.CompressionRatio,
				NoSpeechProb:     result.NoSpeechProb,
			}
		}

		isTS := func(i int) bool { return tokens[i] >= tok.TimestampBegin }
		n := len(tokens)
		singleTimestampEnding := n >= 2 && !isTS(n-2) && isTS(n-1)
		var consecutive []int
		for i := 0; i+1 < n; i++ {
			if isTS(i) && isTS(i+1) {
				consecutive = append(consecutive, i+1)
			}
		}
		if len(consecutive) > 0 {
			// the output contains two consecutive timestamp tokens
			slices := append([]int(nil), consecutive...)
			if singleTimestampEnding {
				slices = append(slices, n)
			}
			lastSlice := 0
			for _, cur := range slices {
				sliced := tokens[lastSlice:cur]
				startPos := sliced[0] - tok.TimestampBegin
				endPos := sliced[len(sliced)-1] - tok.TimestampBegin
				current = append(current, newSegment(
					timeOffset+float64(startPos)*timePrecision,
					timeOffset+float64(endPos)*timePrecision,
					sliced))
				lastSlice = cur
			}
			if singleTimestampEnding {
				// single timestamp at the end means no speech after the last timestamp.
				seek += segmentSize
			} else {
				// otherwise, ignore the unfinished segment and seek to the last timestamp
				lastTimestampPos := tokens[lastSlice-1] - tok.TimestampBegin
				seek += lastTimestampPos * inputStride
			}
		} else {
			duration := segmentDuration
			lastTS := -1
			for i := range tokens {
				if isTS(i) {
					lastTS = tokens[i]
				}
			}
			if lastTS >= 0 && lastTS != tok.TimestampBegin {
				// no consecutive timestamps but it has a timestamp; use the last one.
				duration = float64(lastTS-tok.TimestampBegin) * timePrecision
			}
			current = append(current, newSegment(timeOffset, timeOffset+duration, tokens))
			seek += segmentSize
		}

		if opt.WordTimestamps {
			for i := range current {
				if current[i].Words == nil {
					current[i].Words = []Word{}
				}
			}
			if err := lf.words(ctx, current, tok, language, task, enc, segmentSize, prepend, appendP, lastSpeechTimestamp); err != nil {
				return nil, err
			}
			if !singleTimestampEnding {
				if lastWordEnd, ok := getEnd(current); ok && lastWordEnd > timeOffset {
					seek = int(math.RoundToEven(lastWordEnd * float64(framesPerSecond)))
				}
			}
			// skip silence before possible hallucinations
			if th := opt.HallucinationSilenceThreshold; th > 0 {
				if !singleTimestampEnding {
					if lastWordEnd, ok := getEnd(current); ok && lastWordEnd > timeOffset {
						remaining := windowEndTime - lastWordEnd
						if remaining > th {
							seek = int(math.RoundToEven(lastWordEnd * float64(framesPerSecond)))
						} else {
							seek = previousSeek + segmentSize
						}
					}
				}
				// if the first segment might be a hallucination, skip leading silence
				if first := nextWordsSegment(current); first != nil && isSegmentAnomaly(first, punctuation) {
					gap := first.Start - timeOffset
					if gap > th {
						seek = previousSeek + int(math.RoundToEven(gap*float64(framesPerSecond)))
						continue
					}
				}
				// skip silence before any possible hallucination that is
				// surrounded by silence or more hallucinations
				halLastEnd := lastSpeechTimestamp
				for si := range current {
					segment := &current[si]
					if len(segment.Words) == 0 {
						continue
					}
					if isSegmentAnomaly(segment, punctuation) {
						next := nextWordsSegment(current[si+1:])
						var halNextStart float64
						if next != nil {
							halNextStart = next.Words[0].Start
						} else {
							halNextStart = timeOffset + segmentDuration
						}
						silenceBefore := segment.Start-halLastEnd > th || segment.Start < th || segment.Start-timeOffset < 2.0
						silenceAfter := halNextStart-segment.End > th || isSegmentAnomaly(next, punctuation) || windowEndTime-segment.End < 2.0
						if silenceBefore && silenceAfter {
							seek = int(math.RoundToEven(math.Max(timeOffset+1, segment.Start) * float64(framesPerSecond)))
							if contentDuration-segment.End < th {
								seek = contentFrames
							}
							current = current[:si]
							break
						}
					}
					halLastEnd = segment.End
				}
			}
			if lastWordEnd, ok := getEnd(current); ok {
				lastSpeechTimestamp = lastWordEnd
			}
		}

		// if a segment is instantaneous or does not contain text, clear it
		for i := range current {
			s := &current[i]
			if s.Start == s.End || pyStrip(s.Text) == "" {
				s.Text = ""
				s.Tokens = []int{}
				s.Words = nil
			}
		}
		for i := range current {
			current[i].ID = len(allSegments)
			if current[i].Tokens == nil {
				current[i].Tokens = []int{}
			}
			allSegments = append(allSegments, current[i])
			allTokens = append(allTokens, current[i].Tokens...)
			if opt.OnSegment != nil {
				opt.OnSegment(current[i])
			}
		}
		if opt.NoConditionOnPreviousText || result.Temperature > 0.5 {
			// do not feed the prompt tokens if a high temperature was used
			promptResetSince = len(allTokens)
		}
	}
	if allSegments == nil {
		allSegments = []Segment{}
	}
	return &Result{
		Text:     tok.Decode(allTokens[len(initialPromptTokens):]),
		Segments: allSegments,
		Language: language,
		words:    opt.WordTimestamps,
	}, nil
}

// getEnd is OpenAI's utils.get_end: the end of the last word, else the end
// of the last segment.
func getEnd(segments []Segment) (float64, bool) {
	for i := len(segments) - 1; i >= 0; i-- {
		if w := segments[i].Words; len(w) > 0 {
			return w[len(w)-1].End, true
		}
	}
	if len(segments) > 0 {
		return segments[len(segments)-1].End, true
	}
	return 0, false
}

func nextWordsSegment(segments []Segment) *Segment {
	for i := range segments {
		if len(segments[i].Words) > 0 {
			return &segments[i]
		}
	}
	return nil
}

// wordAnomalyScore: anomalous words are very long/short/improbable.
func wordAnomalyScore(w Word) float64 {
	duration := w.End - w.Start
	score := 0.0
	if w.Probability < 0.15 {
		score += 1.0
	}
	if duration < 0.133 {
		score += (0.133 - duration) * 15
	}
	if duration > 2.0 {
		score += duration - 2.0
	}
	return score
}

func isSegmentAnomaly(s *Segment, punctuation string) bool {
	if s == nil || len(s.Words) == 0 {
		return false
	}
	var words []Word
	for _, w := range s.Words {
		// Python's `word not in punctuation` is a substring test
		if !strings.Contains(punctuation, w.Word) {
			words = append(words, w)
		}
	}
	if len(words) > 8 {
		words = words[:8]
	}
	score := 0.0
	for _, w := range words {
		score += wordAnomalyScore(w)
	}
	return score >= 3 || score+0.01 >= float64(len(words))
}
