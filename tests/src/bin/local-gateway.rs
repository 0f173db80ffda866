//! The local HTTP API (see `integration_tests::gateway`), the tokens it accepts, and the coordinator page with its
//! sign-in stand-in (`integration_tests::page`, `integration_tests::idp`).
//!
//!     local-gateway serve                      # GATEWAY_ROUTES, GATEWAY_EMULATOR, GATEWAY_PORT, LOCAL_JWT_SECRET
//!     local-gateway mint SUB "SCOPE ..." [GROUP ...]
//!                                              # prints a token valid for 12 hours (GATEWAY_ROUTES, LOCAL_JWT_SECRET)
//!                                              # for a person in the groups (cognito:groups), e.g. staff
//!     local-gateway page                       # the page on PAGE_PORT, the identity provider on IDP_PORT:
//!                                              # PAGE_ROOT (web/), PAGE_CONFIG (local_stack.py page-config),
//!                                              # LOCAL_USERS, GATEWAY_ROUTES, LOCAL_JWT_SECRET

use integration_tests::gateway::{Api, Gateway};
use integration_tests::idp::{Client, IdentityProvider, Settings, User};
use integration_tests::page::{PageConfig, PageServer};
use integration_tests::{env, local_token_in_groups};
use std::time::Duration;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["serve"] => {
            let api = Api::from_file(&env("GATEWAY_ROUTES"));
            let port = env("GATEWAY_PORT").parse().expect("GATEWAY_PORT is a port number");
            let secret = hex::decode(env("LOCAL_JWT_SECRET")).expect("LOCAL_JWT_SECRET is hex");
            let gateway = Gateway::start(api, &env("GATEWAY_EMULATOR"), secret, port).await;
            eprintln!("local HTTP API on {}", gateway.url);
            std::future::pending::<()>().await;
        }
        ["mint", sub, scope, groups @ ..] => println!("{}", local_token_in_groups(sub, scope, groups)),
        ["page"] => serve_page().await,
        _ => {
            eprintln!(
                "usage: local-gateway serve | local-gateway mint SUB \"SCOPE ...\" [GROUP ...] | local-gateway page"
            );
            std::process::exit(2);
        }
    }
}

async fn serve_page() {
    let api = Api::from_file(&env("GATEWAY_ROUTES"));
    let page = PageConfig::from_file(&env("PAGE_CONFIG"));
    let page_port: u16 = env("PAGE_PORT").parse().expect("PAGE_PORT is a port number");
    let idp_port: u16 = env("IDP_PORT").parse().expect("IDP_PORT is a port number");
    let text = |name: &str| {
        page.config[name]
            .as_str()
            .unwrap_or_else(|| panic!("PAGE_CONFIG: config.{name} is text"))
            .to_owned()
    };
    let settings = Settings {
        issuer: api.issuer.clone(),
        client: Client {
            id: text("clientId"),
            redirect_uri: format!("http://127.0.0.1:{page_port}/"),
            scopes: text("scopes").split_whitespace().map(str::to_owned).collect(),
        },
        users: User::from_file(&env("LOCAL_USERS")),
        secret: hex::decode(env("LOCAL_JWT_SECRET")).expect("LOCAL_JWT_SECRET is hex"),
        token_lifetime: Duration::from_secs(3600),
        code_lifetime: Duration::from_secs(300),
    };
    let idp = IdentityProvider::start(settings, idp_port).await;
    let site = PageServer::start(std::path::Path::new(&env("PAGE_ROOT")), page, page_port).await;
    eprintln!("coordinator page on {}, its identity provider on {}", site.url, idp.url);
    std::future::pending::<()>().await;
}
