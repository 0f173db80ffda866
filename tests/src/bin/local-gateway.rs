//! The local HTTP API (see `integration_tests::gateway`) and the tokens it accepts.
//!
//!     local-gateway serve                      # GATEWAY_ROUTES, GATEWAY_EMULATOR, GATEWAY_PORT, LOCAL_JWT_SECRET
//!     local-gateway mint SUB "SCOPE ..." [GROUP ...]
//!                                              # prints a token valid for 12 hours (GATEWAY_ROUTES, LOCAL_JWT_SECRET)
//!                                              # for a person in the groups (cognito:groups), e.g. staff

use integration_tests::gateway::{Api, Gateway};
use integration_tests::{env, local_token_in_groups};

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
        _ => {
            eprintln!("usage: local-gateway serve | local-gateway mint SUB \"SCOPE ...\" [GROUP ...]");
            std::process::exit(2);
        }
    }
}
