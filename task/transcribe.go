package task

import "context"

// Transcriber turns speech into text.
type Transcriber interface {
	// SampleRate is the rate, in Hz, of the mono PCM that Transcribe takes.
	SampleRate() int
	// Transcribe transcribes (or translates) pcm, mono samples in [-1, 1] at
	// SampleRate.
	Transcribe(ctx context.Context, pcm []float32, opt TranscribeOptions) (*Transcript, error)
}

// TranscribeOptions configure Transcribe. The zero value transcribes in the
// spoken language (detected where the model can) with the reference
// implementation's defaults (for Whisper, OpenAI's transcribe()).
type TranscribeOptions struct {
	// Task is Transcribe (default) or Translate (into English).
	Task string `json:"task,omitempty"`
	// Language is a code ("en") or an English name; "" detects it. Models
	// trained on one language return an error matching ErrInput for any
	// other.
	Language string `json:"language,omitempty"`
	// Prompt is text that precedes the audio (spellings, style).
	Prompt string `json:"prompt,omitempty"`
	// Temperatures is the sampling-temperature schedule tried in turn when a
	// window fails the quality thresholds; nil is 0, 0.2, …, 1.0 and
	// []float64{0} is greedy decoding without fallback.
	Temperatures []float64 `json:"temperatures,omitempty"`
	// Beams > 1 uses beam search at temperature 0.
	Beams int `json:"beams,omitempty"`
	// Words adds word-level timestamps.
	Words bool `json:"words,omitempty"`
	// OnSegment, when set, is called with each segment as soon as it is
	// final (streaming progress).
	OnSegment func(Segment) `json:"-"`
}

// Transcript is the text of some speech with its timing.
type Transcript struct {
	// Task is Transcribe or Translate.
	Task string `json:"task"`
	// Language is the spoken language's code ("" when the model does not
	// tell).
	Language string `json:"language"`
	// Duration is the audio's length in seconds.
	Duration float64 `json:"duration"`
	// Text is the whole transcript.
	Text string `json:"text"`
	// Segments are its pieces with their timing (one segment for models
	// without timestamps).
	Segments []Segment `json:"segments"`
	// Words reports whether word timestamps were computed (segments hold
	// them).
	Words bool `json:"-"`
}

// Segment is a piece of a transcript with its timing and decoding
// statistics (OpenAI's segment object).
type Segment struct {
	ID               int     `json:"id"`
	Seek             int     `json:"seek"`
	Start            float64 `json:"start"`
	End              float64 `json:"end"`
	Text             string  `json:"text"`
	Tokens           []int   `json:"tokens"`
	Temperature      float64 `json:"temperature"`
	AvgLogprob       float64 `json:"avg_logprob"`
	CompressionRatio float64 `json:"compression_ratio"`
	NoSpeechProb     float64 `json:"no_speech_prob"`
	// Words is set when word timestamps were asked for.
	Words []Word `json:"words,omitempty"`
}

// Word is one word with its timing.
type Word struct {
	Word        string  `json:"word"`
	Start       float64 `json:"start"`
	End         float64 `json:"end"`
	Probability float64 `json:"probability"`
}
