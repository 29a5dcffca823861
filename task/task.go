package task

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
)

// ErrInput is matched (errors.Is) by every error that a family returns for
// input it cannot take: undecodable or over-large files, over-long texts,
// unknown languages, options the family does not have, limits exceeded.
// Servers answer such errors with 400.
var ErrInput = errors.New("invalid input")

// Inputf returns an error wrapping ErrInput with a formatted message.
func Inputf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInput, fmt.Sprintf(format, a...))
}

// ErrUnsupported is matched by the error of asking a model for a task it
// does not do (see Unsupported).
var ErrUnsupported = errors.New("task not supported by this model")

// Names of the tasks. They are also the goformer command's subcommands.
const (
	Classify   = "classify"   // labels for an image (Classifier)
	ZeroShot   = "zeroshot"   // scores for labels given at run time (ZeroShotClassifier)
	Embed      = "embed"      // vectors for texts and images (Embedder)
	Search     = "search"     // an image index searched by text or image (Searcher)
	Transcribe = "transcribe" // speech to text (Transcriber)
	Translate  = "translate"  // speech to English text (Transcriber with Task "translate")
	Caption    = "caption"    // text describing an image (Captioner)
	VQA        = "vqa"        // answer to a question about an image (Answerer)
	Chat       = "chat"       // a conversation about images (Chatter)
)

// Model is a loaded model of any family. What else it does is told by the
// task interfaces it implements (check with a type assertion) and by
// Info().Tasks.
type Model interface {
	io.Closer
	// Info describes the model.
	Info() Info
}

// Info describes a loaded model.
type Info struct {
	// Family is the implementation's package ("whisper", "clip", …).
	Family string `json:"family"`
	// Architecture is what chose the implementation: config.json's
	// architectures[0], else its model_type, or "openai-whisper" /
	// "openai-clip" for OpenAI's own checkpoint files.
	Architecture string `json:"architecture"`
	// Tasks lists what the model does (the constants above).
	Tasks []string `json:"tasks"`
	// Path is the local directory or checkpoint file it was loaded from.
	Path string `json:"path"`
}

// Does reports whether info lists task.
func (i Info) Does(task string) bool {
	for _, t := range i.Tasks {
		if t == task {
			return true
		}
	}
	return false
}

// Unsupported returns the error of asking m for a task it does not do; it
// matches ErrUnsupported and names the tasks m does instead.
func Unsupported(name string, m Model, task string) error {
	info := m.Info()
	kind := info.Family
	if info.Architecture != "" && info.Architecture != kind {
		kind += " (" + info.Architecture + ")"
	}
	does := "no task"
	if len(info.Tasks) > 0 {
		does = joinTasks(info.Tasks)
	}
	return &unsupportedError{fmt.Sprintf("%s is a %s model: it does %s, not %s", name, kind, does, task)}
}

type unsupportedError struct{ msg string }

func (e *unsupportedError) Error() string        { return e.msg }
func (e *unsupportedError) Is(target error) bool { return target == ErrUnsupported }

func joinTasks(ts []string) string {
	s := ""
	for i, t := range ts {
		if i > 0 {
			s += ", "
		}
		s += t
	}
	return s
}

// Classifier labels images with the classes it was trained on.
type Classifier interface {
	Classify(ctx context.Context, img image.Image, opt ClassifyOptions) ([]Prediction, error)
}

// ClassifyOptions configure Classify.
type ClassifyOptions struct {
	// TopK is the number of classes returned, best first; 0 returns all.
	TopK int `json:"top_k,omitempty"`
}

// Prediction is one class of a classification.
type Prediction struct {
	Label string  `json:"label"`
	Index int     `json:"index"`
	Score float32 `json:"score"` // softmax probability
}

// ZeroShotClassifier scores an image against labels given at run time.
type ZeroShotClassifier interface {
	ZeroShot(ctx context.Context, img image.Image, labels []string, opt ZeroShotOptions) ([]LabelScore, error)
}

// ZeroShotOptions configure ZeroShot.
type ZeroShotOptions struct {
	// Template makes each label's prompt, "{label}" standing for the label
	// (e.g. "a photo of {label}"); "" uses the label as it is.
	Template string `json:"template,omitempty"`
	// TopK is the number of labels returned, best first; 0 returns all,
	// best first.
	TopK int `json:"top_k,omitempty"`
}

// LabelScore is one label of a zero-shot classification.
type LabelScore struct {
	// Label is the label as given (not the prompt made of it).
	Label string `json:"label"`
	// Probability is the softmax over all labels (0–1).
	Probability float32 `json:"probability"`
	// Logit is the model's unnormalised score.
	Logit float32 `json:"logit"`
}

// Embedder maps texts and images into one vector space (unit-norm vectors;
// the dot product is the cosine similarity).
type Embedder interface {
	EmbedTexts(ctx context.Context, texts []string) ([][]float32, error)
	EmbedImages(ctx context.Context, imgs []image.Image) ([][]float32, error)
}

// ErrIndexMismatch is matched by the error of opening an index made by
// another model (or by another version of the index format).
var ErrIndexMismatch = errors.New("index belongs to another model")

// ErrIndexRoot is matched by the error of opening an index for another
// folder than the one it was built over.
var ErrIndexRoot = errors.New("index built over another folder")

// Searcher builds and opens image indexes that can be searched by text or
// by image.
type Searcher interface {
	// IndexDir embeds the images of dir (the index is not saved).
	IndexDir(ctx context.Context, dir string, opt IndexOptions) (Index, error)
	// OpenIndex returns the index saved at path for the folder dir, kept up
	// to date: built and saved when path does not exist; otherwise loaded,
	// checked (made by this model, else ErrIndexMismatch; built over dir,
	// else ErrIndexRoot), updated for the files added, changed or removed
	// since, and saved back when anything changed.
	OpenIndex(ctx context.Context, path, dir string, opt IndexOptions) (Index, IndexChanges, error)
	// LoadIndex reads a saved index as it is (searching it needs no
	// folder); an index made by another model is ErrIndexMismatch.
	LoadIndex(path string) (Index, error)
}

// IndexChanges counts what OpenIndex did to a saved index.
type IndexChanges struct {
	Added     int `json:"added"`
	Updated   int `json:"updated"`
	Removed   int `json:"removed"`
	Unchanged int `json:"unchanged"`
}

// Changed reports whether anything was added, updated or removed.
func (c IndexChanges) Changed() bool { return c.Added+c.Updated+c.Removed > 0 }

// IndexOptions configure Searcher.IndexDir.
type IndexOptions struct {
	// Recursive descends into subfolders.
	Recursive bool
	// Progress, when set, is called with the files handled so far and the
	// total.
	Progress func(done, total int)
	// OnError decides what a file that cannot be read or decoded does:
	// returning nil skips it, an error stops indexing with it; nil stops at
	// the first such file.
	OnError func(path string, err error) error
}

// Index is a searchable set of embedded images.
type Index interface {
	// Len is the number of images.
	Len() int
	// Save writes the index to path.
	Save(path string) error
	// SearchText returns the k images most similar to the text (k ≤ 0:
	// all), best first.
	SearchText(ctx context.Context, query string, k int) ([]Match, error)
	// SearchImage returns the k images most similar to img.
	SearchImage(ctx context.Context, img image.Image, k int) ([]Match, error)
}

// Match is one search result.
type Match struct {
	// ID is the entry's id (the image path).
	ID string `json:"id"`
	// Index is the entry's position in the index.
	Index int `json:"index"`
	// Score is the cosine similarity with the query (−1 to 1).
	Score float32 `json:"score"`
}

// Captioner describes images in words.
type Captioner interface {
	Caption(ctx context.Context, img image.Image, opt CaptionOptions) (*CaptionResult, error)
}

// CaptionOptions configure Caption. Zero values take the checkpoint's
// generation settings.
type CaptionOptions struct {
	// Prompt is text the caption continues; families that cannot take one
	// return an error matching ErrInput.
	Prompt string `json:"prompt,omitempty"`
	// Beams > 1 uses beam search, 1 greedy search.
	Beams int `json:"beams,omitempty"`
	// MaxNewTokens bounds the generated tokens.
	MaxNewTokens int `json:"max_new_tokens,omitempty"`
}

// CaptionResult is a generated caption.
type CaptionResult struct {
	// Text is the decoded caption, special tokens left out.
	Text string `json:"text"`
	// IDs are the token ids as the family's reference implementation
	// returns them.
	IDs []int `json:"ids,omitempty"`
}

// Answerer answers questions about images.
type Answerer interface {
	Answer(ctx context.Context, img image.Image, question string, opt AnswerOptions) (*AnswerResult, error)
}

// AnswerOptions configure Answer. Zero values take the checkpoint's
// generation settings.
type AnswerOptions struct {
	// Beams > 1 uses beam search, 1 greedy search.
	Beams int `json:"beams,omitempty"`
	// MaxNewTokens bounds the generated tokens.
	MaxNewTokens int `json:"max_new_tokens,omitempty"`
}

// AnswerResult is the answer to one question.
type AnswerResult struct {
	Question string `json:"question"`
	Text     string `json:"text"`
	IDs      []int  `json:"ids,omitempty"`
}

// NewInputError returns a sentinel error with the message msg that matches
// ErrInput: families define their specific input errors with it, so that
// errors.Is(err, ErrInput) holds for all of them.
func NewInputError(msg string) error { return &inputError{msg} }

type inputError struct{ msg string }

func (e *inputError) Error() string        { return e.msg }
func (e *inputError) Is(target error) bool { return target == ErrInput }

// OptionError is an option a model cannot honour (a language given to a
// model trained on one, a prompt to a captioner without one, a beam width
// over the limit). It matches ErrInput through Err, the family's error.
type OptionError struct {
	// Option is the option's name, as in the JSON of the options struct
	// ("language", "beams", "prompt", "temperatures", "task", …).
	Option string
	// Err is the family's error, matching its own input sentinel.
	Err error
}

func (e *OptionError) Error() string { return e.Err.Error() }
func (e *OptionError) Unwrap() error { return e.Err }

// OptionChecker is implemented by models that can tell, before any input,
// whether they honour a task's options: opt is a TranscribeOptions,
// CaptionOptions, AnswerOptions, ChatOptions, ClassifyOptions or
// ZeroShotOptions value.
// The error is an *OptionError naming the option.
type OptionChecker interface {
	CheckOptions(opt any) error
}
