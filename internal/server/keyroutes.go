package server

// keyRoutes are the routes of project keys (rotation, status).
func (s *Server) keyRoutes() []route { return nil }
