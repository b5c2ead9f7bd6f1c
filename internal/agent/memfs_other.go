//go:build !linux

package agent

// memoryBacked is false where the agent cannot tell: secrets then come as
// environment variables only.
func memoryBacked(string) bool { return false }
