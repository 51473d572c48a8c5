//! Serves the app on port 8501 with `.streamlit/secrets.toml` (and `OIDC_AUTH__*`).

use tower_oidc_login::AuthConfig;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = AuthConfig::load()?;
    for warning in config.warnings() {
        eprintln!("warning: {warning}");
    }
    let app = testing_recipe::app(config, 8501)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8501").await?;
    println!("Open http://127.0.0.1:8501/");
    axum::serve(listener, app).await?;
    Ok(())
}
