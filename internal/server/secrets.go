package server

// secretRoutes are the routes of project secrets.
func (s *Server) secretRoutes() []route { return nil }
