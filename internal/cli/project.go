package cli

import "github.com/spf13/cobra"

// projectCmd groups project administration (keys).
func (a *app) projectCmd() *cobra.Command { return nil }
