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
		Load: task.Loader(Load, func(m *Model, dir string) task.Model {
			return m.AsTask("LlavaForConditionalGeneration", dir)
		}),
	})
}

// CaptionPrompt is the instruction Caption gives when CaptionOptions has
// no prompt: LLaVA-1.5's instruction for short captions.
const CaptionPrompt = "Provide a one-sentence caption for the provided image."

// AsTask returns m for the front door: a task.Chatter, task.Captioner and
// task.Answerer; arch and path fill its Info. Closing it closes m; its
// Model method returns m.
func (m *Model) AsTask(arch, path string) task.Model {
	return &taskModel{task.NewAdapter(m, task.Info{Family: "llava", Architecture: arch, Path: path,
		Tasks: []string{task.Chat, task.Caption, task.VQA}})}
}

type taskModel struct{ task.Adapter[*Model] }

// Chat implements task.Chatter.
func (t *taskModel) Chat(ctx context.Context, msgs []task.Message, opt task.ChatOptions) (*task.ChatResult, error) {
	return t.Model().Chat(ctx, msgs, opt)
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
	res, err := t.Model().ask(ctx, img, prompt, o.Beams, o.MaxNewTokens)
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
	res, err := t.Model().ask(ctx, img, question, o.Beams, o.MaxNewTokens)
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
	if o, ok := opt.(task.ChatOptions); ok {
		if err := CheckChatOptions(o); err != nil {
			return err
		}
	}
	limits := task.GenerationLimits{Beams: MaxBeams, Positions: t.Model().cfg.Text.MaxPositions}
	return limits.Check(ErrInput, opt)
}
