package llava

import (
	"context"
	"fmt"
	"image"
	"strings"

	"github.com/goformer/goformer/task"
)

func init() {
	task.Register(task.Family{
		Name:          "llava",
		Architectures: []string{"LlavaForConditionalGeneration"},
		ModelTypes:    []string{"llava"},
		Tasks:         []string{task.Chat, task.Caption, task.VQA},
		Load: func(dir string, o task.LoadOptions) (task.Model, error) {
			m, err := Load(dir, o.NN()...)
			if err != nil {
				return nil, err
			}
			return m.AsTask("LlavaForConditionalGeneration", dir), nil
		},
	})
}

// CaptionPrompt is the instruction Caption gives when CaptionOptions has
// no prompt: LLaVA-1.5's instruction for short captions.
const CaptionPrompt = "Provide a one-sentence caption for the provided image."

// AsTask returns m for the front door: a task.Chatter, task.Captioner and
// task.Answerer; arch and path fill its Info. Closing it closes m.
func (m *Model) AsTask(arch, path string) task.Model {
	return &taskModel{m: m, info: task.Info{Family: "llava", Architecture: arch, Path: path,
		Tasks: []string{task.Chat, task.Caption, task.VQA}}}
}

type taskModel struct {
	m    *Model
	info task.Info
}

func (t *taskModel) Info() task.Info { return t.info }
func (t *taskModel) Close() error    { return t.m.Close() }

// Model returns the LLaVA model behind a front-door model.
func (t *taskModel) Model() *Model { return t.m }

// Chat implements task.Chatter.
func (t *taskModel) Chat(ctx context.Context, msgs []task.Message, opt task.ChatOptions) (*task.ChatResult, error) {
	return t.m.Chat(ctx, msgs, opt)
}

// Caption answers CaptionPrompt (or the prompt given, as the user's
// instruction) about img.
func (t *taskModel) Caption(ctx context.Context, img image.Image, o task.CaptionOptions) (*task.CaptionResult, error) {
	if err := t.CheckOptions(o); err != nil {
		return nil, err
	}
	prompt := o.Prompt
	if strings.TrimSpace(prompt) == "" {
		prompt = CaptionPrompt
	}
	res, err := t.m.ask(ctx, img, prompt, o.Beams, o.MaxNewTokens)
	if err != nil {
		return nil, err
	}
	return &task.CaptionResult{Text: strings.TrimSpace(res.Text), IDs: res.IDs}, nil
}

// Answer asks question about img in the chat format.
func (t *taskModel) Answer(ctx context.Context, img image.Image, question string, o task.AnswerOptions) (*task.AnswerResult, error) {
	if strings.TrimSpace(question) == "" {
		return nil, fmt.Errorf("%w: no question", ErrInput)
	}
	if err := t.CheckOptions(o); err != nil {
		return nil, err
	}
	res, err := t.m.ask(ctx, img, question, o.Beams, o.MaxNewTokens)
	if err != nil {
		return nil, err
	}
	return &task.AnswerResult{Question: question, Text: strings.TrimSpace(res.Text), IDs: res.IDs}, nil
}

// ask answers one question about one image with the checkpoint's decoding
// (beam search with beams > 1); IDs are the whole sequence, prompt
// included, as transformers' generate returns it.
func (m *Model) ask(ctx context.Context, img image.Image, text string, beams, maxNew int) (*ChatResult, error) {
	g := m.DefaultOptions()
	if beams > 0 {
		g.NumBeams = beams
	}
	if g.NumBeams > 1 {
		g.Sample = nil
	}
	msgs := []Message{{Role: task.RoleUser, Text: text, Images: []image.Image{img}}}
	res, err := m.respond(ctx, msgs, g, maxNew, nil)
	if err != nil {
		return nil, err
	}
	ids, _, _ := m.Encode(msgs)
	res.IDs = append(ids, res.IDs...)
	return res, nil
}

// CheckOptions tells whether the model honours the options of a task
// (task.OptionChecker).
func (t *taskModel) CheckOptions(opt any) error {
	gen := func(beams, maxNew int) error {
		switch {
		case beams < 0:
			return &task.OptionError{Option: "beams", Err: fmt.Errorf("%w: beams must not be negative", ErrInput)}
		case beams > MaxBeams:
			return &task.OptionError{Option: "beams", Err: fmt.Errorf("%w: %d beams, over the limit of %d", ErrInput, beams, MaxBeams)}
		case maxNew < 0:
			return &task.OptionError{Option: "max_new_tokens", Err: fmt.Errorf("%w: max tokens must not be negative", ErrInput)}
		case maxNew > t.m.cfg.Text.MaxPositions:
			return &task.OptionError{Option: "max_new_tokens", Err: fmt.Errorf("%w: %d new tokens, over the language model's %d positions", ErrInput, maxNew, t.m.cfg.Text.MaxPositions)}
		}
		return nil
	}
	switch o := opt.(type) {
	case task.CaptionOptions:
		return gen(o.Beams, o.MaxNewTokens)
	case task.AnswerOptions:
		return gen(o.Beams, o.MaxNewTokens)
	case task.ChatOptions:
		if err := CheckChatOptions(o); err != nil {
			return err
		}
		return gen(0, o.MaxNewTokens)
	}
	return nil
}
