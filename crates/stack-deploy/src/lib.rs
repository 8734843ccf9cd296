//! stack-deploy
