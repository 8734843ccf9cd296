//! ecs-revert
