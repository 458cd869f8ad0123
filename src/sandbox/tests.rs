use super::*;

#[test]
fn dump_made_up() {
    for line in std::fs::read_to_string("/tmp/ids.txt").unwrap().lines() {
        let id: Uuid = line.parse().unwrap();
        let c = made_up_customer(id);
        println!("{}", serde_json::to_string(&c).unwrap());
    }
}
